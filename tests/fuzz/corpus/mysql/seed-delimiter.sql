DELIMITER $$
CREATE PROCEDURE p()
BEGIN
  DECLARE i INT DEFAULT 0;
  l1: LOOP
    IF i > 3 THEN LEAVE l1; END IF;
    SET i = i + 1;
  END LOOP l1;
END$$
DELIMITER ;
SELECT 'a\'b;', "c;", `d;` # comment ;
;
SELECT 1--1;
-- real comment
/*!40101 SET @x = 1 */;

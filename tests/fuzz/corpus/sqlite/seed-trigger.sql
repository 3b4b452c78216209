CREATE TRIGGER tr AFTER INSERT ON t WHEN new.a > 0 BEGIN
  UPDATE t SET b = CASE WHEN new.a > 1 THEN 'x' ELSE 'y' END;
  DELETE FROM u;
END;
SELECT 1 -- c;
/* ; */ SELECT ?1, :n, @v, $w;
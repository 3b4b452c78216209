SELECT 1;
SELECT "a;b";;
-- only comment
SELECT 2
COPY t (a, b) FROM stdin;
1	x;y
2	\N
\.
SELECT E'a\'b;', U&'d\0061t', U&"x""y" /* /* nested ; */ */ FROM t WHERE j ?| array['a'] AND k = ? AND l = $1;

/*
 * The row counter of mysqldump files (lib/backup/mysqldump_rows.c), which
 * gives a MySQL/MariaDB backup its row counts from the dump's own text:
 * a dump in the shapes mariadb-dump writes (the rows of an INSERT on its
 * line, or each on a line of its own as 10.11 writes them), fed whole, a byte at a time and
 * in pieces of every size up to 64 (so every state is split across two
 * pieces), gives each table its rows; strings holding the row separator,
 * quotes and backslashes count for nothing; INSERTs in a trigger's body
 * (inside DELIMITER ;;) are not data; text of another shape is an error
 * that names its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backup/backup_impl.h"

static const char dump[] =
    "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n"
    "/*!40101 SET NAMES utf8mb4 */;\n"
    "--\n"
    "-- Table structure for table `items`\n"
    "--\n"
    "\n"
    "DROP TABLE IF EXISTS `items`;\n"
    "CREATE TABLE `items` (\n"
    "  `id` int(11) NOT NULL AUTO_INCREMENT,\n"
    "  `pad` text NOT NULL,\n"
    "  PRIMARY KEY (`id`)\n"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
    "\n"
    "--\n"
    "-- Dumping data for table `items`\n"
    "--\n"
    "\n"
    "LOCK TABLES `items` WRITE;\n"
    "/*!40000 ALTER TABLE `items` DISABLE KEYS */;\n"
    "INSERT INTO `items` VALUES (1,'a'),(2,'b),(c'),(3,'it\\'s'),(4,'x\\\\'),(5,'o''k');\n"
    "INSERT INTO `items` VALUES (6,'line\\none'),(7,\"dq ) ( ; \\\" \"),(8,NULL),"
    "(9,0x28293B27),(10,'\\'),(\\\\\\'\\\\'),(11,'\\\\');\n"
    "/*!40000 ALTER TABLE `items` ENABLE KEYS */;\n"
    "UNLOCK TABLES;\n"
    "--\n"
    "-- Dumping data for table `empty`\n"
    "--\n"
    "\n"
    "LOCK TABLES `empty` WRITE;\n"
    "UNLOCK TABLES;\n"
    "--\n"
    "-- Dumping data for table `we``ird`\n"
    "--\n"
    "INSERT INTO `we``ird` VALUES\n(1),\n(2);\n"
    "/*!50003 SET @saved_cs_client      = @@character_set_client */ ;\n"
    "DELIMITER ;;\n"
    "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t_audit` "
    "AFTER INSERT ON `items` FOR EACH ROW\n"
    "INSERT INTO `items` VALUES (100,'not data'),(101,'nor this') */;;\n"
    "DELIMITER ;\n"
    "INSERT INTO `audit` VALUES (1);\n"
    "-- Dump completed on 2026-12-07  4:20:00\n";

static void expect(const dm_bk_counts *c, const char *table, int64_t rows)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->tables[i], table) == 0) {
            if (c->rows[i] != rows)
                fail_msg("%s: %lld rows counted, %lld expected", table,
                         (long long)c->rows[i], (long long)rows);
            return;
        }
    fail_msg("%s: no count", table);
}

/* The dump in pieces of step bytes (0: whole). */
static void count_in_pieces(size_t step)
{
    dm_bk_counts c = {0};
    assert_int_equal(dm_bk_counts_add(&c, "empty", 0), DBMGMT_OK); /* as the catalog lists it */
    assert_int_equal(dm_bk_counts_add(&c, "items", 0), DBMGMT_OK);
    dm_mdr s;
    dm_mdr_init(&s, &c);
    size_t len = sizeof dump - 1;
    for (size_t at = 0; at < len;) {
        size_t n = step && len - at > step ? step : len - at;
        assert_int_equal(dm_mdr_feed(&s, dump + at, n), DBMGMT_OK);
        at += n;
    }
    assert_int_equal(dm_mdr_finish(&s), DBMGMT_OK);
    expect(&c, "items", 11);
    expect(&c, "empty", 0);
    expect(&c, "we`ird", 2);
    expect(&c, "audit", 1);
    assert_int_equal(c.n, 4);
    dm_mdr_clear(&s);
    dm_bk_counts_clear(&c);
}

static void test_counts_every_table_whatever_the_pieces(void **state)
{
    (void)state;
    count_in_pieces(0);
    for (size_t step = 1; step <= 64; step++)
        count_in_pieces(step);
}

/* text fed to a counter: its result, and its message in msg */
static int count_text(const char *text, char *msg, size_t cap)
{
    dm_bk_counts c = {0};
    dm_mdr s;
    dm_mdr_init(&s, &c);
    int rc = dm_mdr_feed(&s, text, strlen(text));
    if (rc == DBMGMT_OK)
        rc = dm_mdr_finish(&s);
    snprintf(msg, cap, "%s", s.error);
    dm_mdr_clear(&s);
    dm_bk_counts_clear(&c);
    return rc;
}

static void test_other_shapes_fail_naming_the_line(void **state)
{
    (void)state;
    char msg[200];
    /* a column list (--complete-insert), which the counter does not read */
    assert_int_equal(count_text("--\n\nINSERT INTO `t` (`a`) VALUES (1);\n", msg, sizeof msg),
                     DBMGMT_ERR_PARSE);
    assert_non_null(strstr(msg, "unexpected shape"));
    assert_non_null(strstr(msg, "line 3"));
    assert_int_equal(count_text("INSERT INTO `t` VALUES (1));\n", msg, sizeof msg),
                     DBMGMT_ERR_PARSE);
    assert_non_null(strstr(msg, "line 1"));
    /* a dump cut inside an INSERT */
    assert_int_equal(count_text("INSERT INTO `t` VALUES (1,'a", msg, sizeof msg),
                     DBMGMT_ERR_PARSE);
    assert_non_null(strstr(msg, "ends inside an INSERT"));
    assert_int_equal(count_text("-- nothing\n", msg, sizeof msg), DBMGMT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_every_table_whatever_the_pieces),
        cmocka_unit_test(test_other_shapes_fail_naming_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

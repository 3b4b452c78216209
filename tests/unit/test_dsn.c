/* The DSN parser against a table of good and bad inputs (DESIGN §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/dsn.h"

typedef struct good_case {
    const char *dsn;
    dbmgmt_engine engine;
    const char *user, *password, *host;
    int port;
    const char *database;
    const char *param_key, *param_value; /* one parameter to check, or NULL */
    const char *redacted;
} good_case;

static const good_case good_cases[] = {
    {"sqlite:///abs/path.db", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "/abs/path.db", NULL, NULL,
     "sqlite:///abs/path.db"},
    {"sqlite:relative.db", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "relative.db", NULL, NULL,
     "sqlite:relative.db"},
    {"sqlite::memory:", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, ":memory:", NULL, NULL,
     "sqlite::memory:"},
    {"sqlite:/abs/one-slash.db", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "/abs/one-slash.db",
     NULL, NULL, "sqlite:/abs/one-slash.db"},
    {"sqlite3:data/app.db?mode=ro", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "data/app.db",
     "mode", "ro", "sqlite3:data/app.db?mode=ro"},
    {"sqlite:app.db?busy_timeout=250&mode=rwc", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0,
     "app.db", "busy_timeout", "250", "sqlite:app.db?busy_timeout=250&mode=rwc"},
    {"sqlite:my%20file.db", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "my file.db", NULL, NULL,
     "sqlite:my%20file.db"},
    {"SQLite:upper.db", DBMGMT_ENGINE_SQLITE, NULL, NULL, NULL, 0, "upper.db", NULL, NULL,
     "SQLite:upper.db"},
    {"postgres://app:s3cret@db.example:5433/shop?sslmode=require", DBMGMT_ENGINE_POSTGRES, "app",
     "s3cret", "db.example", 5433, "shop", "sslmode", "require",
     "postgres://app:***@db.example:5433/shop?sslmode=require"},
    {"postgresql://app@localhost/shop", DBMGMT_ENGINE_POSTGRES, "app", NULL, "localhost", 0,
     "shop", NULL, NULL, "postgresql://app@localhost/shop"},
    {"postgres://u:p%40ss%3Aw0rd@h/db", DBMGMT_ENGINE_POSTGRES, "u", "p@ss:w0rd", "h", 0, "db",
     NULL, NULL, "postgres://u:***@h/db"},
    {"postgres://[::1]:5432/db", DBMGMT_ENGINE_POSTGRES, NULL, NULL, "::1", 5432, "db", NULL, NULL,
     "postgres://[::1]:5432/db"},
    {"postgres://", DBMGMT_ENGINE_POSTGRES, NULL, NULL, NULL, 0, NULL, NULL, NULL, "postgres://"},
    {"postgres://h1:5432,h2:5433/db", DBMGMT_ENGINE_POSTGRES, NULL, NULL, "h1:5432,h2:5433", 0,
     "db", NULL, NULL, "postgres://h1:5432,h2:5433/db"},
    {"host=localhost dbname=app password=hunter2", DBMGMT_ENGINE_POSTGRES, NULL, NULL, NULL, 0,
     NULL, NULL, NULL, "host=localhost dbname=app password=***"},
    {"mysql://root:pw@127.0.0.1:3306/app?ssl-mode=REQUIRED", DBMGMT_ENGINE_MYSQL, "root", "pw",
     "127.0.0.1", 3306, "app", "ssl-mode", "REQUIRED",
     "mysql://root:***@127.0.0.1:3306/app?ssl-mode=REQUIRED"},
    {"mariadb://u@h/", DBMGMT_ENGINE_MYSQL, "u", NULL, "h", 0, NULL, NULL, NULL, "mariadb://u@h/"},
    {"mysql://u:a@b@h/db", DBMGMT_ENGINE_MYSQL, "u", "a@b", "h", 0, "db", NULL, NULL,
     "mysql://u:***@h/db"},
    {"postgres://u:pw@h/db?password=other", DBMGMT_ENGINE_POSTGRES, "u", "pw", "h", 0, "db",
     "password", "other", "postgres://u:***@h/db?password=***"},
};

typedef struct bad_case {
    const char *dsn;
    int code;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    {"", DBMGMT_ERR_PARSE, "the DSN is empty"},
    {"oracle://u@h/db", DBMGMT_ERR_PARSE,
     "unknown scheme 'oracle' in DSN 'oracle://u@h/db' (expected sqlite, postgres, postgresql, "
     "mysql or mariadb)"},
    {"just-a-word", DBMGMT_ERR_PARSE,
     "DSN 'just-a-word' has no scheme (expected sqlite:, postgres:// or mysql://)"},
    {"sqlite:", DBMGMT_ERR_PARSE,
     "sqlite DSN 'sqlite:' has no file path (use sqlite:app.db, sqlite:///abs/app.db or "
     "sqlite::memory:)"},
    {"sqlite://host/x.db", DBMGMT_ERR_PARSE,
     "sqlite DSN 'sqlite://host/x.db' names a host ('host'); use sqlite:///absolute/path.db or "
     "sqlite:relative/path.db"},
    {"sqlite:app.db?mode=rwx", DBMGMT_ERR_PARSE,
     "sqlite DSN 'sqlite:app.db?mode=rwx': mode='rwx' is not one of ro, rw, rwc, memory"},
    {"sqlite:app.db?busy_timeout=soon", DBMGMT_ERR_PARSE,
     "sqlite DSN 'sqlite:app.db?busy_timeout=soon': busy_timeout='soon' is not a number of "
     "milliseconds from 0 to 2147483647"},
    {"sqlite:app.db?journal=wal", DBMGMT_ERR_PARSE,
     "sqlite DSN 'sqlite:app.db?journal=wal': unknown parameter 'journal' (known: mode, "
     "busy_timeout)"},
    {"sqlite:app.db?mode", DBMGMT_ERR_PARSE,
     "parameter 'mode' of DSN 'sqlite:app.db?mode' has no value (expected name=value)"},
    {"sqlite:bad%zzname.db", DBMGMT_ERR_PARSE,
     "bad percent-escape in the path of DSN 'sqlite:bad%zzname.db' (expected %XX with two hex "
     "digits)"},
    {"sqlite:nul%00.db", DBMGMT_ERR_PARSE,
     "the path of DSN 'sqlite:nul%00.db' contains %00 (a NUL byte)"},
    {"postgres:db", DBMGMT_ERR_PARSE,
     "DSN 'postgres:db' must start with postgres:// (for example postgres://user@host:port/db)"},
    {"postgres://u:secret@h:99999/db", DBMGMT_ERR_PARSE,
     "port '99999' in DSN 'postgres://u:***@h:99999/db' is not a number from 1 to 65535"},
    {"postgres://u:secret@h:port/db", DBMGMT_ERR_PARSE,
     "port 'port' in DSN 'postgres://u:***@h:port/db' is not a number from 1 to 65535"},
    {"postgres://u:secret@h:0/db", DBMGMT_ERR_PARSE,
     "port '0' in DSN 'postgres://u:***@h:0/db' is not a number from 1 to 65535"},
    {"mysql://u:secret@[::1/db", DBMGMT_ERR_PARSE,
     "DSN 'mysql://u:***@[::1/db' has an IPv6 host without its closing ']'"},
    {"mysql://[::1]x/db", DBMGMT_ERR_PARSE, "DSN 'mysql://[::1]x/db' has text after the IPv6 host's ']'"},
    {"mysql://u:secret@h/a/b", DBMGMT_ERR_PARSE,
     "database name 'a/b' in DSN 'mysql://u:***@h/a/b' contains '/'"},
    {"mysql://u:secret@h/db#frag", DBMGMT_ERR_PARSE,
     "DSN 'mysql://u:***@h/db#frag' has a '#' fragment; percent-encode '#' as %23"},
    {"mysql://u:secret@h/db?ssl-mode=REQUIRED&ssl-mode=DISABLED", DBMGMT_ERR_PARSE,
     "parameter 'ssl-mode' is given twice in DSN "
     "'mysql://u:***@h/db?ssl-mode=REQUIRED&ssl-mode=DISABLED'"},
    {"mysql://u:secret@h/db?=x", DBMGMT_ERR_PARSE,
     "a parameter of DSN 'mysql://u:***@h/db?=x' has an empty name"},
    {"mysql://u:p%4@h/db", DBMGMT_ERR_PARSE,
     "bad percent-escape in the password of DSN 'mysql://u:***@h/db' (expected %XX with two hex "
     "digits)"},
    {"postgres://u:secret@h/db name", DBMGMT_ERR_PARSE,
     "DSN 'postgres://u:***@h/db name' contains white space or a control character at offset 24; "
     "percent-encode it"},
    {"sqlite:tab\tname.db", DBMGMT_ERR_PARSE,
     "DSN 'sqlite:tab\tname.db' contains white space or a control character at offset 10; "
     "percent-encode it"},
    {"postgres://u%zz:secret@h/db", DBMGMT_ERR_PARSE,
     "bad percent-escape in the user name of DSN 'postgres://u%zz:***@h/db' (expected %XX with "
     "two hex digits)"},
    {"postgres://u:secret@h/d%4", DBMGMT_ERR_PARSE,
     "bad percent-escape in the database name of DSN 'postgres://u:***@h/d%4' (expected %XX with "
     "two hex digits)"},
};

static void test_dsn_good_inputs_parse_to_their_parts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++) {
        const good_case *c = &good_cases[i];
        dm_dsn *d = NULL;
        dm_error err;
        int rc = dm_dsn_parse(c->dsn, &d, &err);
        if (rc != DBMGMT_OK)
            fail_msg("case %zu '%s': %s", i, c->dsn, err.msg);
        assert_int_equal(d->engine, c->engine);
        if (c->user)
            assert_string_equal(d->user, c->user);
        else
            assert_null(d->user);
        if (c->password)
            assert_string_equal(d->password, c->password);
        else
            assert_null(d->password);
        if (c->host)
            assert_string_equal(d->host, c->host);
        else
            assert_null(d->host);
        assert_int_equal(d->port, c->port);
        if (c->database)
            assert_string_equal(d->database, c->database);
        else
            assert_null(d->database);
        if (c->param_key)
            assert_string_equal(dm_dsn_param_get(d, c->param_key), c->param_value);
        char *shown = dm_dsn_render_redacted(d);
        assert_non_null(shown);
        assert_string_equal(shown, c->redacted);
        dm_free(shown);
        dm_dsn_free(d);
    }
}

static void test_dsn_bad_inputs_get_their_exact_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        dm_dsn *d = (dm_dsn *)0x1;
        dm_error err;
        int rc = dm_dsn_parse(c->dsn, &d, &err);
        if (rc != c->code || strcmp(err.msg, c->message) != 0)
            fail_msg("case %zu '%s': got %d '%s'\n  expected %d '%s'", i, c->dsn, rc, err.msg,
                     c->code, c->message);
        assert_null(d);
        /* the thread mirror says the same */
        assert_int_equal(dbmgmt_errcode(), c->code);
        assert_string_equal(dbmgmt_errmsg(), c->message);
        assert_null(strstr(err.msg, "secret"));
    }
}

static void test_dsn_null_means_database_url(void **state)
{
    (void)state;
    dm_dsn *d = NULL;
    dm_error err;
    unsetenv("DATABASE_URL");
    assert_int_equal(dm_dsn_parse(NULL, &d, &err), DBMGMT_ERR_INVALID);
    assert_string_equal(err.msg, "no DSN given and DATABASE_URL is not set");
    setenv("DATABASE_URL", "sqlite:from-env.db", 1);
    assert_int_equal(dm_dsn_parse(NULL, &d, &err), DBMGMT_OK);
    assert_string_equal(d->database, "from-env.db");
    dm_dsn_free(d);
    unsetenv("DATABASE_URL");
}

static void test_dsn_redact_public_call_hides_password(void **state)
{
    (void)state;
    char *s = dbmgmt_dsn_redact("mysql://app:TopSecret1@db:3306/app");
    assert_non_null(s);
    assert_string_equal(s, "mysql://app:***@db:3306/app");
    dbmgmt_free(s);
    assert_null(dbmgmt_dsn_redact("nope://x"));
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_good_inputs_parse_to_their_parts),
        cmocka_unit_test(test_dsn_bad_inputs_get_their_exact_error),
        cmocka_unit_test(test_dsn_null_means_database_url),
        cmocka_unit_test(test_dsn_redact_public_call_hides_password),
    };
    return cmocka_run_group_tests_name("core/dsn", tests, NULL, NULL);
}

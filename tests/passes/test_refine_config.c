/* test_refine_config.c — the JSON parser and the refinement configuration.
 *
 * Properties checked:
 *   - util/json_parse: values, positions, escapes (\uXXXX and surrogate pairs against
 *     hand-encoded UTF-8), numbers against literal doubles, and each rejection
 *     (leading zeros, NaN, trailing commas, duplicates, depth, bad UTF-8 ...) with the
 *     exact "line L, column C:" it reports;
 *   - ogq_refine_config_init gives MCT's GradientPTQConfig defaults (literal values);
 *   - every dotted name sets exactly its field (compared field by field against a config
 *     edited by hand), groups switch on from optimizer_rest and off with null;
 *   - each kind of bad value is OGQ_ERR_USAGE naming the setting and the value, and
 *     leaves the config unchanged;
 *   - JSON files: good files, and bad ones with the file name, line and setting in the
 *     message; a failing file leaves the config unchanged;
 *   - write_json → load_json reproduces a non-default config.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "passes/refine_config.h"
#include "util/json_parse.h"

/* ---- helpers ---- */

/* Field-by-field equality. effective: ignore the contents of switched-off groups. */
static bool adam_eq(const struct ogq_adam_config *a, const struct ogq_adam_config *b)
{
    return a->lr == b->lr && a->beta_1 == b->beta_1 && a->beta_2 == b->beta_2 && a->eps == b->eps;
}

static bool cfg_eq(const struct ogq_refine_config *a, const struct ogq_refine_config *b,
                   bool effective)
{
    const struct ogq_hessian_weights_config *ha = &a->hessian_weights_config,
                                            *hb = &b->hessian_weights_config;
    const struct ogq_gaq_config *ga = &a->gradual_activation_quantization_config,
                                *gb = &b->gradual_activation_quantization_config;
    bool ok =
        a->n_epochs == b->n_epochs && a->n_steps == b->n_steps &&
        adam_eq(&a->optimizer, &b->optimizer) && adam_eq(&a->optimizer_rest, &b->optimizer_rest) &&
        a->has_optimizer_bias == b->has_optimizer_bias &&
        a->has_optimizer_quantization_parameter == b->has_optimizer_quantization_parameter &&
        a->train_bias == b->train_bias && a->regularization_factor == b->regularization_factor &&
        a->rounding_type == b->rounding_type &&
        a->use_hessian_based_weights == b->use_hessian_based_weights &&
        ha->per_sample == hb->per_sample && ha->hessians_num_samples == hb->hessians_num_samples &&
        ha->norm_scores == hb->norm_scores && ha->log_norm == hb->log_norm &&
        ha->scale_log_norm == hb->scale_log_norm &&
        ha->hessian_batch_size == hb->hessian_batch_size && ha->num_probes == hb->num_probes &&
        ga->enabled == gb->enabled &&
        a->quantization_parameter_learning == b->quantization_parameter_learning &&
        a->seed == b->seed;
    if (!effective || a->has_optimizer_bias)
        ok = ok && adam_eq(&a->optimizer_bias, &b->optimizer_bias);
    if (!effective || a->has_optimizer_quantization_parameter)
        ok = ok &&
             adam_eq(&a->optimizer_quantization_parameter, &b->optimizer_quantization_parameter);
    if (!effective || ga->enabled)
        ok = ok && ga->initial_q_fraction == gb->initial_q_fraction &&
             ga->target_q_fraction == gb->target_q_fraction && ga->start_step == gb->start_step &&
             ga->end_step == gb->end_step;
    return ok;
}

/* Writes `text` to a new temporary file; returns its path in `path` (size >= 32). */
static void write_temp(char *path, const char *text, size_t len)
{
    strcpy(path, "/tmp/ogq_cfg_XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Loads `text` as a config file into *c; returns the status, message in err. */
static enum ogq_status load_text(struct ogq_refine_config *c, const char *text,
                                 struct ogq_error *err, char *path)
{
    write_temp(path, text, strlen(text));
    enum ogq_status st = ogq_refine_config_load_json(c, path, err);
    unlink(path);
    return st;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- JSON parser ---- */

static struct ogq_jvalue *parse_ok(const char *text)
{
    struct ogq_jvalue *v = NULL;
    struct ogq_error err;
    ogq_error_clear(&err);
    enum ogq_status st = ogq_json_parse(text, strlen(text), &v, &err);
    CU_ASSERT_EQUAL(st, OGQ_OK);
    if (st != OGQ_OK)
        fprintf(stderr, "unexpected parse failure of %s: %s\n", text, err.msg);
    return v;
}

static void test_json_values_and_positions(void)
{
    const char *text = "{\n"
                       "  \"a\": [1, -2.5e3, true, false, null, \"x\"],\n"
                       "  \"b\": {\"c\": {}},\n"
                       "\t\"\xc3\xa9t\xc3\xa9\": []\n"
                       "}\n";
    struct ogq_jvalue *v = parse_ok(text);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_EQUAL(v->type, OGQ_JOBJECT);
    CU_ASSERT_EQUAL(v->n, 3);
    CU_ASSERT(v->line == 1 && v->col == 1);
    const struct ogq_jvalue *a = ogq_jobject_get(v, "a");
    CU_ASSERT_FATAL(a != NULL && a->type == OGQ_JARRAY && a->n == 6);
    CU_ASSERT(a->line == 2 && a->col == 8);
    CU_ASSERT(a->items[0].type == OGQ_JNUMBER && a->items[0].num == 1.0);
    CU_ASSERT_STRING_EQUAL(a->items[1].num_text, "-2.5e3");
    CU_ASSERT_EQUAL(a->items[1].num, -2500.0);
    CU_ASSERT(a->items[1].line == 2 && a->items[1].col == 12);
    CU_ASSERT(a->items[2].type == OGQ_JBOOL && a->items[2].b);
    CU_ASSERT(a->items[3].type == OGQ_JBOOL && !a->items[3].b);
    CU_ASSERT(a->items[4].type == OGQ_JNULL);
    CU_ASSERT(a->items[5].type == OGQ_JSTRING && strcmp(a->items[5].str, "x") == 0);
    CU_ASSERT_EQUAL(a->items[5].col, 39);
    const struct ogq_jvalue *b = ogq_jobject_get(v, "b");
    CU_ASSERT_FATAL(b != NULL && b->type == OGQ_JOBJECT);
    const struct ogq_jvalue *cc = ogq_jobject_get(b, "c");
    CU_ASSERT(cc != NULL && cc->type == OGQ_JOBJECT && cc->n == 0 && cc->line == 3);
    /* Columns count characters: the two-byte é counts once. */
    const struct ogq_jvalue *e = ogq_jobject_get(v, "\xc3\xa9t\xc3\xa9");
    CU_ASSERT(e != NULL && e->type == OGQ_JARRAY && e->line == 4 && e->col == 9);
    CU_ASSERT(ogq_jobject_get(v, "missing") == NULL);
    CU_ASSERT(ogq_jobject_get(a, "a") == NULL); /* not an object */
    ogq_jvalue_free(v);
    /* Scalars at the top level, surrounded by whitespace. */
    v = parse_ok(" \r\n\t42 \n");
    CU_ASSERT(v != NULL && v->type == OGQ_JNUMBER && v->num == 42.0 && v->line == 2);
    ogq_jvalue_free(v);
    /* More than 16 keys switches duplicate detection to the hash map. */
    char big[2048] = "{";
    for (int i = 0; i < 40; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\": %d", i ? "," : "", i, i);
    strcat(big, "}");
    v = parse_ok(big);
    CU_ASSERT(v != NULL && v->n == 40);
    const struct ogq_jvalue *k37 = ogq_jobject_get(v, "k37");
    CU_ASSERT(k37 != NULL && k37->num == 37.0);
    ogq_jvalue_free(v);
}

static void test_json_escapes(void)
{
    struct ogq_jvalue *v =
        parse_ok("\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00z\"");
    CU_ASSERT_FATAL(v != NULL && v->type == OGQ_JSTRING);
    /* U+00E9 = C3 A9, U+20AC = E2 82 AC, U+1F600 (D83D DE00) = F0 9F 98 80. */
    const char expect[] = "q\"b\\s/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
    CU_ASSERT_EQUAL(v->str_len, sizeof expect - 1);
    CU_ASSERT(memcmp(v->str, expect, sizeof expect) == 0);
    ogq_jvalue_free(v);
    /* U+0000 is kept in values (str_len tells), the highest code point, raw UTF-8 too. */
    v = parse_ok("[\"a\\u0000b\", \"\\uDBFF\\uDFFF\", \"\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    CU_ASSERT_FATAL(v != NULL && v->n == 3);
    CU_ASSERT(v->items[0].str_len == 3 && memcmp(v->items[0].str, "a\0b", 4) == 0);
    CU_ASSERT(v->items[1].str_len == 4 && memcmp(v->items[1].str, "\xf4\x8f\xbf\xbf", 4) == 0);
    CU_ASSERT_STRING_EQUAL(v->items[2].str, "\xe2\x82\xac\xf0\x9f\x98\x80");
    ogq_jvalue_free(v);
}

static void test_json_numbers(void)
{
    static const struct {
        const char *text;
        double value;
    } good[] = {
        {"0", 0.0},       {"-0", -0.0},
        {"7", 7.0},       {"-12", -12.0},
        {"3.25", 3.25},   {"1e2", 100.0},
        {"1E+2", 100.0},  {"2.5e-3", 0.0025},
        {"-0.5E1", -5.0}, {"123456789012", 123456789012.0},
        {"0.1", 0.1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct ogq_jvalue *v = parse_ok(good[i].text);
        CU_ASSERT_FATAL(v != NULL);
        CU_ASSERT_EQUAL(v->type, OGQ_JNUMBER);
        CU_ASSERT_EQUAL(v->num, good[i].value);
        CU_ASSERT_STRING_EQUAL(v->num_text, good[i].text);
        ogq_jvalue_free(v);
    }
    struct ogq_jvalue *v = parse_ok("-0");
    CU_ASSERT(v && signbit(v->num));
    ogq_jvalue_free(v);
    v = parse_ok("1e400"); /* valid grammar; the value overflows to infinity */
    CU_ASSERT(v && isinf(v->num) && strcmp(v->num_text, "1e400") == 0);
    ogq_jvalue_free(v);
    static const char *bad[] = {"01",   "-",   "1.",  ".5",       "+1",        "1e",
                                "1e+",  "NaN", "nan", "Infinity", "-Infinity", "0x10",
                                "1.e3", "-01", "00",  "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ogq_error err;
        v = (struct ogq_jvalue *)&err; /* must be reset to NULL on failure */
        CU_ASSERT_EQUAL(ogq_json_parse(bad[i], strlen(bad[i]), &v, &err), OGQ_ERR_FORMAT);
        CU_ASSERT(v == NULL);
        CU_ASSERT(starts_with(err.msg, "line 1, column "));
    }
}

/* Each bad document fails with OGQ_ERR_FORMAT at the given position and reason. */
static void test_json_rejects(void)
{
    static const struct {
        const char *text;
        const char *where; /* "line L, column C: " */
        const char *why;   /* substring of the problem */
    } cases[] = {
        {"[1, 2,]", "line 1, column 7: ", "trailing comma"},
        {"{\"a\": 1,\n }", "line 2, column 2: ", "trailing comma"},
        {"{\"a\": 1, \"b\": 2,\n  \"a\": 3}", "line 2, column 3: ", "duplicate key \"a\""},
        {"{} x", "line 1, column 4: ", "after the end"},
        {"{}{}", "line 1, column 3: ", "after the end"},
        {"[1] ]", "line 1, column 5: ", "after the end"},
        {"\"abc", "line 1, column 5: ", "unterminated string"},
        {"\"a\\x\"", "line 1, column 3: ", "invalid escape"},
        {"\"\\ud800\"", "line 1, column 2: ", "unpaired high surrogate"},
        {"\"\\udc00\"", "line 1, column 2: ", "unpaired low surrogate"},
        {"\"\\ud800\\u0041\"", "line 1, column 2: ", "not a low surrogate"},
        {"\"\\u12G4\"", "line 1, column 6: ", "4 hex digits"},
        {"\"a\tb\"", "line 1, column 3: ", "control character"},
        {"\"\xc0\xaf\"", "line 1, column 2: ", "invalid UTF-8"},         /* overlong '/' */
        {"\"\xed\xa0\x80\"", "line 1, column 2: ", "invalid UTF-8"},     /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", "line 1, column 2: ", "invalid UTF-8"}, /* > U+10FFFF */
        {"\"\xff\"", "line 1, column 2: ", "invalid UTF-8"},
        {"\"\xe2\x82\"", "line 1, column 2: ", "invalid UTF-8"}, /* truncated */
        {"['a']", "line 1, column 2: ", "expected a value"},
        {"// c\n{}", "line 1, column 1: ", "expected a value"},
        {"", "line 1, column 1: ", "found end of input"},
        {"  \n ", "line 2, column 2: ", "found end of input"},
        {"{a: 1}", "line 1, column 2: ", "string key"},
        {"{\"a\" 1}", "line 1, column 6: ", "':'"},
        {"[1 2]", "line 1, column 4: ", "',' or ']'"},
        {"{\"a\": 1 \"b\": 2}", "line 1, column 9: ", "',' or '}'"},
        {"[tru]", "line 1, column 2: ", "invalid literal"},
        {"True", "line 1, column 1: ", "expected a value"},
        {"{\"a\\u0000\": 1}", "line 1, column 2: ", "U+0000"},
        {"[1, 01]", "line 1, column 5: ", "leading zeros"},
        {"[\"a\"\x01]", "line 1, column 5: ", "byte 0x01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ogq_jvalue *v = NULL;
        struct ogq_error err;
        ogq_error_clear(&err);
        enum ogq_status st = ogq_json_parse(cases[i].text, strlen(cases[i].text), &v, &err);
        bool ok = st == OGQ_ERR_FORMAT && v == NULL && starts_with(err.msg, cases[i].where) &&
                  strstr(err.msg, cases[i].why) != NULL;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "case %zu: status %d, message '%s'\n", i, (int)st, err.msg);
        ogq_jvalue_free(v);
    }
    /* A duplicate found by the hash map (after 16 keys) is reported at its key. */
    char big[2048] = "{";
    for (int i = 0; i < 30; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\": %d", i ? ",\n" : "", i,
                 i);
    strcat(big, ",\n \"k5\": 0}");
    struct ogq_jvalue *v = NULL;
    struct ogq_error err;
    CU_ASSERT_EQUAL(ogq_json_parse(big, strlen(big), &v, &err), OGQ_ERR_FORMAT);
    CU_ASSERT_STRING_EQUAL(err.msg, "line 31, column 2: duplicate key \"k5\"");
    /* Input that is not NUL-terminated: only `len` bytes are read. */
    CU_ASSERT_EQUAL(ogq_json_parse("[1]]]]", 3, &v, &err), OGQ_OK);
    CU_ASSERT(v && v->type == OGQ_JARRAY && v->n == 1);
    ogq_jvalue_free(v);
}

static void test_json_depth_limit(void)
{
    char doc[2 * (OGQ_JSON_PARSE_MAX_DEPTH + 1) + 1];
    struct ogq_jvalue *v = NULL;
    struct ogq_error err;
    /* Exactly the limit parses ... */
    size_t n = OGQ_JSON_PARSE_MAX_DEPTH;
    memset(doc, '[', n);
    memset(doc + n, ']', n);
    CU_ASSERT_EQUAL(ogq_json_parse(doc, 2 * n, &v, &err), OGQ_OK);
    const struct ogq_jvalue *p = v;
    size_t levels = 0;
    while (p && p->type == OGQ_JARRAY) {
        levels++;
        p = p->n ? &p->items[0] : NULL;
    }
    CU_ASSERT_EQUAL(levels, n);
    ogq_jvalue_free(v);
    /* ... one more does not, and the error points at the extra bracket. */
    n++;
    memset(doc, '[', n);
    memset(doc + n, ']', n);
    CU_ASSERT_EQUAL(ogq_json_parse(doc, 2 * n, &v, &err), OGQ_ERR_FORMAT);
    CU_ASSERT(v == NULL);
    char where[64];
    snprintf(where, sizeof where, "line 1, column %d: nesting deeper",
             OGQ_JSON_PARSE_MAX_DEPTH + 1);
    CU_ASSERT(starts_with(err.msg, where));
}

/* ---- configuration: defaults and setters ---- */

static void test_defaults(void)
{
    struct ogq_refine_config c;
    memset(&c, 0x5a, sizeof c);
    ogq_refine_config_init(&c);
    CU_ASSERT_EQUAL(c.n_epochs, 20);
    CU_ASSERT_EQUAL(c.n_steps, 0);
    CU_ASSERT(c.optimizer.lr == 3e-2 && c.optimizer.beta_1 == 0.9 && c.optimizer.beta_2 == 0.999 &&
              c.optimizer.eps == 1e-8);
    CU_ASSERT(c.optimizer_rest.lr == 1e-4 && c.optimizer_rest.beta_1 == 0.9 &&
              c.optimizer_rest.beta_2 == 0.999 && c.optimizer_rest.eps == 1e-8);
    CU_ASSERT(!c.has_optimizer_bias);
    CU_ASSERT(!c.has_optimizer_quantization_parameter);
    CU_ASSERT(c.train_bias);
    CU_ASSERT_EQUAL(c.regularization_factor, 0.01);
    CU_ASSERT_EQUAL(c.rounding_type, OGQ_ROUNDING_SOFT);
    CU_ASSERT(c.use_hessian_based_weights);
    CU_ASSERT(!c.hessian_weights_config.per_sample);
    CU_ASSERT_EQUAL(c.hessian_weights_config.hessians_num_samples, 32);
    CU_ASSERT(c.hessian_weights_config.norm_scores);
    CU_ASSERT(c.hessian_weights_config.log_norm);
    CU_ASSERT(!c.hessian_weights_config.scale_log_norm);
    CU_ASSERT_EQUAL(c.hessian_weights_config.hessian_batch_size, 32);
    CU_ASSERT_EQUAL(c.hessian_weights_config.num_probes, 2);
    CU_ASSERT(c.gradual_activation_quantization_config.enabled);
    CU_ASSERT_EQUAL(c.gradual_activation_quantization_config.initial_q_fraction, 0.0);
    CU_ASSERT_EQUAL(c.gradual_activation_quantization_config.target_q_fraction, 1.0);
    CU_ASSERT_EQUAL(c.gradual_activation_quantization_config.start_step, 0);
    CU_ASSERT(c.gradual_activation_quantization_config.end_step < 0);
    CU_ASSERT(!c.quantization_parameter_learning);
    CU_ASSERT_EQUAL(c.seed, 0);
    CU_ASSERT_STRING_EQUAL(ogq_rounding_type_name(OGQ_ROUNDING_SOFT), "SoftQuantizer");
    CU_ASSERT_STRING_EQUAL(ogq_rounding_type_name(OGQ_ROUNDING_STE), "STE");
    struct ogq_error err;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
}

/* Sets NAME=VALUE on c, applies EDIT to the hand-edited copy e, and requires c == e. */
#define SET(name, value, edit)                                                                     \
    do {                                                                                           \
        enum ogq_status st_ = ogq_refine_config_set(&c, name, value, &err);                        \
        CU_ASSERT_EQUAL(st_, OGQ_OK);                                                              \
        if (st_ != OGQ_OK)                                                                         \
            fprintf(stderr, "%s=%s: %s\n", name, value, err.msg);                                  \
        edit;                                                                                      \
        CU_ASSERT(cfg_eq(&c, &e, false));                                                          \
        if (!cfg_eq(&c, &e, false))                                                                \
            fprintf(stderr, "%s=%s set the wrong fields\n", name, value);                          \
    } while (0)

static void test_every_setter(void)
{
    struct ogq_refine_config c, e;
    struct ogq_error err;
    ogq_refine_config_init(&c);
    ogq_refine_config_init(&e);
    SET("n_epochs", "7", e.n_epochs = 7);
    SET("n_epochs", "1e1", e.n_epochs = 10); /* integral in exponent form */
    SET("n_epochs", "3.0", e.n_epochs = 3);
    SET("n_steps", "250", e.n_steps = 250);
    SET("n_steps", "0", e.n_steps = 0);
    SET("optimizer.type", "Adam", (void)0);
    SET("optimizer.type", "adam", (void)0);
    SET("optimizer.lr", "0.5", e.optimizer.lr = 0.5);
    SET("optimizer.beta_1", "0", e.optimizer.beta_1 = 0.0);
    SET("optimizer.beta_2", "0.99", e.optimizer.beta_2 = 0.99);
    SET("optimizer.eps", "1e-6", e.optimizer.eps = 1e-6);
    SET("optimizer_rest.lr", ".002", e.optimizer_rest.lr = 0.002);
    SET("optimizer_rest.beta_1", "0.8", e.optimizer_rest.beta_1 = 0.8);
    SET("optimizer_rest.beta_2", "0.95", e.optimizer_rest.beta_2 = 0.95);
    SET("optimizer_rest.eps", "1E-7", e.optimizer_rest.eps = 1e-7);
    /* A member of optimizer_bias switches it on, starting from optimizer_rest. */
    SET("optimizer_bias.lr", "0.25",
        (e.has_optimizer_bias = true, e.optimizer_bias = e.optimizer_rest,
         e.optimizer_bias.lr = 0.25));
    SET("optimizer_bias.beta_1", "0.5", e.optimizer_bias.beta_1 = 0.5);
    SET("optimizer_bias.beta_2", "0.5", e.optimizer_bias.beta_2 = 0.5);
    SET("optimizer_bias.eps", "0.001", e.optimizer_bias.eps = 0.001);
    SET("optimizer_bias", "null", e.has_optimizer_bias = false);
    SET("optimizer_bias.type", "Adam",
        (e.has_optimizer_bias = true, e.optimizer_bias = e.optimizer_rest));
    SET("optimizer_quantization_parameter.beta_2", "0.9",
        (e.has_optimizer_quantization_parameter = true,
         e.optimizer_quantization_parameter = e.optimizer_rest,
         e.optimizer_quantization_parameter.beta_2 = 0.9));
    SET("optimizer_quantization_parameter.lr", "3", e.optimizer_quantization_parameter.lr = 3.0);
    SET("optimizer_quantization_parameter.beta_1", "0.25",
        e.optimizer_quantization_parameter.beta_1 = 0.25);
    SET("optimizer_quantization_parameter.eps", "2e-8",
        e.optimizer_quantization_parameter.eps = 2e-8);
    SET("optimizer_quantization_parameter.type", "ADAM", (void)0);
    SET("optimizer_quantization_parameter", "null", e.has_optimizer_quantization_parameter = false);
    SET("train_bias", "false", e.train_bias = false);
    SET("train_bias", "1", e.train_bias = true);
    SET("train_bias", "0", e.train_bias = false);
    SET("train_bias", "True", e.train_bias = true);
    SET("regularization_factor", "0", e.regularization_factor = 0.0);
    SET("regularization_factor", "1.5", e.regularization_factor = 1.5);
    SET("rounding_type", "STE", e.rounding_type = OGQ_ROUNDING_STE);
    SET("rounding_type", "softquantizer", e.rounding_type = OGQ_ROUNDING_SOFT);
    SET("rounding_type", "ste", e.rounding_type = OGQ_ROUNDING_STE);
    SET("rounding_type", "soft", e.rounding_type = OGQ_ROUNDING_SOFT);
    SET("rounding_type", "SoftQuantizer", e.rounding_type = OGQ_ROUNDING_SOFT);
    SET("use_hessian_based_weights", "false", e.use_hessian_based_weights = false);
    SET("use_hessian_based_weights", "true", e.use_hessian_based_weights = true);
    SET("hessian_weights_config", "null", e.use_hessian_based_weights = false);
    SET("use_hessian_based_weights", "1", e.use_hessian_based_weights = true);
    SET("hessian_weights_config.per_sample", "true", e.hessian_weights_config.per_sample = true);
    SET("hessian_weights_config.hessians_num_samples", "null",
        e.hessian_weights_config.hessians_num_samples = -1);
    SET("hessian_weights_config.hessians_num_samples", "1",
        e.hessian_weights_config.hessians_num_samples = 1);
    SET("hessian_weights_config.norm_scores", "false",
        e.hessian_weights_config.norm_scores = false);
    SET("hessian_weights_config.log_norm", "false", e.hessian_weights_config.log_norm = false);
    SET("hessian_weights_config.scale_log_norm", "true",
        e.hessian_weights_config.scale_log_norm = true);
    SET("hessian_weights_config.hessian_batch_size", "4",
        e.hessian_weights_config.hessian_batch_size = 4);
    SET("hessian_weights_config.num_probes", "1024", e.hessian_weights_config.num_probes = 1024);
    SET("hessian_weights_config.num_probes", "1", e.hessian_weights_config.num_probes = 1);
    struct ogq_gaq_config *g = &e.gradual_activation_quantization_config;
    SET("gradual_activation_quantization_config", "null", g->enabled = false);
    SET("gradual_activation_quantization_config.q_fraction_scheduler_policy.initial_q_fraction",
        "0.25", (g->enabled = true, g->initial_q_fraction = 0.25));
    SET("gradual_activation_quantization_config.q_fraction_scheduler_policy.target_q_fraction",
        "0.75", g->target_q_fraction = 0.75);
    SET("gradual_activation_quantization_config.q_fraction_scheduler_policy.start_step", "10",
        g->start_step = 10);
    SET("gradual_activation_quantization_config.q_fraction_scheduler_policy.end_step", "20",
        g->end_step = 20);
    SET("gradual_activation_quantization_config.q_fraction_scheduler_policy.end_step", "null",
        g->end_step = -1);
    SET("gptq_quantizer_params_override.quantization_parameter_learning", "true",
        e.quantization_parameter_learning = true);
    SET("seed", "9223372036854775807", e.seed = 9223372036854775807ull);
    SET("seed", "12345", e.seed = 12345);
    /* The NAME=VALUE form, with blanks around both sides. */
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c, "optimizer.lr=0.125", &err), OGQ_OK);
    e.optimizer.lr = 0.125;
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c, "  n_steps = 9 ", &err), OGQ_OK);
    e.n_steps = 9;
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c, "rounding_type=STE", &err), OGQ_OK);
    e.rounding_type = OGQ_ROUNDING_STE;
    CU_ASSERT(cfg_eq(&c, &e, false));
}

/* Each bad value: OGQ_ERR_USAGE, the message names the setting and quotes the value
 * (or says why), and the config is unchanged. */
static void test_bad_values(void)
{
    static const struct {
        const char *name, *value, *msg;
    } cases[] = {
        /* not a number / not an integer / out of range */
        {"n_epochs", "five",
         "refine setting 'n_epochs': expected an integer in [1, 2147483647], "
         "got 'five'"},
        {"n_epochs", "2.5", "got '2.5'"},
        {"n_epochs", "0", "got '0'"},
        {"n_epochs", "-3", "got '-3'"},
        {"n_epochs", "99999999999999999999", "got '99999999999999999999'"},
        {"n_epochs", "1e300", "got '1e300'"},
        {"n_epochs", "", "got ''"},
        {"n_epochs", "5 ", "got '5 '"},
        {"n_epochs", "null", "got 'null'"},
        {"n_steps", "-1", "refine setting 'n_steps': expected an integer in [0, "},
        {"n_steps", "0x10", "got '0x10'"},
        {"hessian_weights_config.hessians_num_samples", "0", "or null, got '0'"},
        {"hessian_weights_config.hessian_batch_size", "0", "got '0'"},
        {"hessian_weights_config.num_probes", "1025",
         "refine setting 'hessian_weights_config.num_probes': expected an integer in [1, 1024], "
         "got '1025'"},
        {"hessian_weights_config.num_probes", "0", "got '0'"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy.start_step", "-1",
         "got '-1'"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy.end_step", "1.5",
         "or null, got '1.5'"},
        {"seed", "-1", "refine setting 'seed': expected an integer >= 0, got '-1'"},
        {"seed", "18446744073709551615", "got '18446744073709551615'"},
        /* floats: finite, with each range */
        {"optimizer.lr", "-1", "refine setting 'optimizer.lr': expected a number > 0, got '-1'"},
        {"optimizer.lr", "0", "got '0'"},
        {"optimizer.lr", "nan", "got 'nan'"},
        {"optimizer.lr", "inf", "got 'inf'"},
        {"optimizer.lr", "1e999", "got '1e999'"},
        {"optimizer_rest.beta_1", "1",
         "refine setting 'optimizer_rest.beta_1': expected a number in [0, 1), got '1'"},
        {"optimizer_bias.beta_2", "-0.1", "got '-0.1'"},
        {"optimizer_quantization_parameter.eps", "0", "expected a number > 0, got '0'"},
        {"regularization_factor", "-0.01",
         "refine setting 'regularization_factor': expected a number >= 0, got '-0.01'"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy.target_q_fraction",
         "1.5", "expected a number in [0, 1], got '1.5'"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy.initial_q_fraction",
         "-0.5", "got '-0.5'"},
        /* booleans, enums, optimizer type */
        {"train_bias", "yes",
         "refine setting 'train_bias': expected true or false (or 1/0), "
         "got 'yes'"},
        {"train_bias", "2", "got '2'"},
        {"rounding_type", "hard",
         "refine setting 'rounding_type': expected SoftQuantizer or STE, "
         "got 'hard'"},
        {"optimizer.type", "SGD", "refine setting 'optimizer.type': expected \"Adam\""},
        {"optimizer_bias.type", "sgd", "got 'sgd'"},
        /* groups: null where not allowed, scalars for a group */
        {"optimizer", "null", "refine setting 'optimizer': cannot be null"},
        {"optimizer_rest", "null", "refine setting 'optimizer_rest': cannot be null"},
        {"gptq_quantizer_params_override", "null", "cannot be null"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy", "null",
         "cannot be null"},
        {"optimizer", "5",
         "refine setting 'optimizer': expected a group of settings: set its "
         "members (type, lr, beta_1, beta_2, eps), got '5'"},
        {"hessian_weights_config", "{}", "or null to leave it out"},
        /* unknown and unsupported names */
        {"n_epoch", "5", "unknown refine setting 'n_epoch' (settings: n_epochs, n_steps,"},
        {"optimizer.momentum", "0.9",
         "unknown refine setting 'optimizer.momentum' (settings under 'optimizer': type, lr, "
         "beta_1, beta_2, eps)"},
        {"gradual_activation_quantization_config.q_fraction_scheduler_policy.foo", "1",
         "(settings under 'gradual_activation_quantization_config.q_fraction_scheduler_policy': "
         "initial_q_fraction, target_q_fraction, start_step, end_step)"},
        {"loss", "mse",
         "'loss' is not configurable: the loss is the Hessian-weighted MSE at "
         "each quantized layer's output"},
        {"log_function", "null", "'log_function' is not configurable"},
    };
    struct ogq_refine_config c, d;
    ogq_refine_config_init(&d);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ogq_refine_config_init(&c);
        struct ogq_error err;
        ogq_error_clear(&err);
        enum ogq_status st = ogq_refine_config_set(&c, cases[i].name, cases[i].value, &err);
        bool ok = st == OGQ_ERR_USAGE && strstr(err.msg, cases[i].msg) != NULL &&
                  strchr(err.msg, '\n') == NULL;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "%s=%s: status %d, message '%s'\n", cases[i].name, cases[i].value,
                    (int)st, err.msg);
        CU_ASSERT(cfg_eq(&c, &d, false)); /* nothing changed, not even a group switch */
    }
    /* The NAME=VALUE form: missing '=' or name. */
    struct ogq_refine_config c2;
    ogq_refine_config_init(&c2);
    struct ogq_error err;
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c2, "optimizer.lr", &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "refine setting 'optimizer.lr': expected NAME=VALUE") != NULL);
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c2, " =5", &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "missing name") != NULL);
    CU_ASSERT_EQUAL(ogq_refine_config_set_pair(&c2, "optimizer.lr=-2", &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "refine setting 'optimizer.lr': expected a number > 0, got '-2'") !=
              NULL);
    CU_ASSERT_EQUAL(ogq_refine_config_set(&c2, "n_epochs", NULL, &err), OGQ_ERR_USAGE);
    CU_ASSERT(cfg_eq(&c2, &d, false));
}

static void test_validate(void)
{
    struct ogq_refine_config c;
    struct ogq_error err;
    struct ogq_gaq_config *g = &c.gradual_activation_quantization_config;
    ogq_refine_config_init(&c);
    /* initial < target, both in [0, 1]. */
    g->initial_q_fraction = 0.5;
    g->target_q_fraction = 0.5;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "0 <= initial_q_fraction < target_q_fraction <= 1, got 0.5 and "
                              "0.5") != NULL);
    g->initial_q_fraction = 0.49;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    g->enabled = false; /* a switched-off schedule is not checked */
    g->initial_q_fraction = 0.9;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    /* end_step > start_step, or null. */
    ogq_refine_config_init(&c);
    g->start_step = 10;
    g->end_step = 10;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "end_step': must be greater than start_step (10)") != NULL);
    CU_ASSERT(strstr(err.msg, "got 10") != NULL);
    g->end_step = 11;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    g->end_step = -1;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    /* per_sample needs every sample. */
    ogq_refine_config_init(&c);
    c.hessian_weights_config.per_sample = true;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "refine setting 'hessian_weights_config.per_sample'") != NULL);
    CU_ASSERT(strstr(err.msg, "hessians_num_samples must be null, got 32") != NULL);
    c.hessian_weights_config.hessians_num_samples = -1;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    c.hessian_weights_config.hessians_num_samples = 32;
    c.use_hessian_based_weights = false; /* unused weights: nothing to check */
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    /* Fields filled by code are range-checked too, except in switched-off groups. */
    ogq_refine_config_init(&c);
    c.optimizer_rest.beta_2 = 1.0;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT_STRING_EQUAL(err.msg, "refine setting 'optimizer_rest.beta_2': expected a number "
                                    "in [0, 1), got '1'");
    ogq_refine_config_init(&c);
    c.optimizer_bias.lr = -1.0;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    c.has_optimizer_bias = true;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "'optimizer_bias.lr'") != NULL);
    ogq_refine_config_init(&c);
    c.n_epochs = 0;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    CU_ASSERT(strstr(err.msg, "'n_epochs'") != NULL && strstr(err.msg, "got '0'") != NULL);
    ogq_refine_config_init(&c);
    c.regularization_factor = NAN;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    ogq_refine_config_init(&c);
    c.seed = UINT64_MAX;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
    ogq_refine_config_init(&c);
    c.rounding_type = (enum ogq_rounding_type)7;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_ERR_USAGE);
}

/* ---- JSON files ---- */

static void test_json_file_good(void)
{
    const char *text =
        "{\n"
        "  \"n_epochs\": 3,\n"
        "  \"optimizer\": {\"type\": \"Adam\", \"lr\": 0.05, \"beta_1\": 0.8},\n"
        "  \"optimizer_rest\": {\"lr\": 2e-3},\n"
        "  \"optimizer_bias\": {},\n"
        "  \"optimizer_quantization_parameter\": null,\n"
        "  \"train_bias\": false,\n"
        "  \"regularization_factor\": 0,\n"
        "  \"rounding_type\": \"STE\",\n"
        "  \"hessian_weights_config\": {\"hessians_num_samples\": null, \"per_sample\": true,\n"
        "                             \"num_probes\": 16},\n"
        "  \"gradual_activation_quantization_config\": {\"q_fraction_scheduler_policy\":\n"
        "      {\"initial_q_fraction\": 0.2, \"end_step\": 100}},\n"
        "  \"gptq_quantizer_params_override\": {\"quantization_parameter_learning\": true},\n"
        "  \"seed\": 42\n"
        "}\n";
    struct ogq_refine_config c, e;
    struct ogq_error err;
    char path[64];
    ogq_refine_config_init(&c);
    ogq_refine_config_init(&e);
    e.gradual_activation_quantization_config.enabled = false; /* the file switches it on */
    c.gradual_activation_quantization_config.enabled = false;
    CU_ASSERT_EQUAL(load_text(&c, text, &err, path), OGQ_OK);
    e.n_epochs = 3;
    e.optimizer.lr = 0.05;
    e.optimizer.beta_1 = 0.8;
    e.optimizer_rest.lr = 2e-3;
    e.has_optimizer_bias = true; /* {} switches it on with optimizer_rest's values */
    e.optimizer_bias = e.optimizer_rest;
    e.train_bias = false;
    e.regularization_factor = 0.0;
    e.rounding_type = OGQ_ROUNDING_STE;
    e.hessian_weights_config.hessians_num_samples = -1;
    e.hessian_weights_config.per_sample = true;
    e.hessian_weights_config.num_probes = 16;
    e.gradual_activation_quantization_config.enabled = true;
    e.gradual_activation_quantization_config.initial_q_fraction = 0.2;
    e.gradual_activation_quantization_config.end_step = 100;
    e.quantization_parameter_learning = true;
    e.seed = 42;
    CU_ASSERT(cfg_eq(&c, &e, false));
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&c, &err), OGQ_OK);
    /* Nulls that switch things off; an empty object changes nothing. */
    ogq_refine_config_init(&c);
    ogq_refine_config_init(&e);
    CU_ASSERT_EQUAL(load_text(&c,
                              "{\"hessian_weights_config\": null,\n"
                              " \"gradual_activation_quantization_config\": null,\n"
                              " \"optimizer_bias\": {\"lr\": 1}, \"optimizer_bias\\u0020\": 1}",
                              &err, path),
                    OGQ_ERR_USAGE); /* "optimizer_bias " is not a name: nothing applied */
    CU_ASSERT(strstr(err.msg, "unknown refine setting 'optimizer_bias '") != NULL);
    CU_ASSERT(cfg_eq(&c, &e, false));
    CU_ASSERT_EQUAL(load_text(&c,
                              "{\"hessian_weights_config\": null,\n"
                              " \"gradual_activation_quantization_config\": null}",
                              &err, path),
                    OGQ_OK);
    e.use_hessian_based_weights = false;
    e.gradual_activation_quantization_config.enabled = false;
    CU_ASSERT(cfg_eq(&c, &e, false));
    CU_ASSERT_EQUAL(load_text(&c, " {} ", &err, path), OGQ_OK);
    CU_ASSERT(cfg_eq(&c, &e, false));
}

/* Loads a bad file: the status and message (after "<path>: ") must match. */
static void check_bad_file(const char *text, enum ogq_status want, const char *msg_after_path)
{
    struct ogq_refine_config c, d;
    struct ogq_error err;
    char path[64];
    ogq_refine_config_init(&c);
    ogq_refine_config_init(&d);
    ogq_error_clear(&err);
    enum ogq_status st = load_text(&c, text, &err, path);
    char want_msg[OGQ_ERROR_MSG_MAX];
    snprintf(want_msg, sizeof want_msg, "%s: %s", path, msg_after_path);
    bool ok = st == want && starts_with(err.msg, want_msg);
    CU_ASSERT(ok);
    if (!ok)
        fprintf(stderr, "status %d, message '%s'\nwanted '%s'\n", (int)st, err.msg, want_msg);
    CU_ASSERT(cfg_eq(&c, &d, false)); /* a failing file changes nothing */
}

static void test_json_file_bad(void)
{
    /* syntax, with the line number */
    check_bad_file("{\n  \"n_epochs\": 3,\n  \"n_steps\": 4\n  \"seed\": 1\n}", OGQ_ERR_FORMAT,
                   "line 4, column 3: expected ',' or '}' in an object, found '\"'");
    check_bad_file("{\"n_epochs\": 3,}", OGQ_ERR_FORMAT, "line 1, column 16: trailing comma");
    check_bad_file("{\"n_epochs\": 3,\n \"n_epochs\": 4}", OGQ_ERR_FORMAT,
                   "line 2, column 2: duplicate key \"n_epochs\"");
    check_bad_file("{\"n_epochs\": 3}\n}", OGQ_ERR_FORMAT,
                   "line 2, column 1: unexpected '}' after the end");
    check_bad_file("{\"optimizer\": {\"lr\": NaN}}", OGQ_ERR_FORMAT,
                   "line 1, column 22: expected a value");
    check_bad_file("{\"n_steps\": 012}", OGQ_ERR_FORMAT, "line 1, column 13: leading zeros");
    /* too deep: the parser's limit */
    char deep[256] = "";
    for (int i = 0; i < OGQ_JSON_PARSE_MAX_DEPTH + 1; i++)
        strcat(deep, "[");
    check_bad_file(deep, OGQ_ERR_FORMAT, "line 1, column 65: nesting deeper than 64");
    /* unknown keys, with the full dotted name */
    check_bad_file("{\n \"optimizer\": {\n  \"lr\": 0.1,\n  \"momentum\": 0.9}}", OGQ_ERR_USAGE,
                   "line 4: unknown refine setting 'optimizer.momentum'");
    check_bad_file("{\"gradual_activation_quantization_config\": {\"schedule\": {}}}",
                   OGQ_ERR_USAGE,
                   "line 1: unknown refine setting 'gradual_activation_quantization_config."
                   "schedule'");
    check_bad_file("{\"loss\": \"mse\"}", OGQ_ERR_USAGE,
                   "line 1: 'loss' is not configurable: the loss is the Hessian-weighted MSE");
    /* wrong types */
    check_bad_file("{\"n_epochs\": \"5\"}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'n_epochs': expected an integer in [1, 2147483647], "
                   "got string \"5\"");
    check_bad_file("{\"train_bias\": 1}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'train_bias': expected true or false, got '1'");
    check_bad_file("{\"train_bias\": \"true\"}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'train_bias': expected true or false, "
                   "got string \"true\"");
    check_bad_file("{\"rounding_type\": true}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'rounding_type': expected SoftQuantizer or STE, "
                   "got 'true'");
    check_bad_file("{\"seed\": [1]}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'seed': expected an integer >= 0, got an array");
    check_bad_file("{\"n_epochs\": {}}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'n_epochs': expected an integer in [1, 2147483647], "
                   "got an object");
    check_bad_file("{\n\n \"optimizer\": 0.1}", OGQ_ERR_USAGE,
                   "line 3: refine setting 'optimizer': expected an object (members: type, lr");
    check_bad_file("{\"optimizer\": null}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'optimizer': cannot be null");
    check_bad_file("{\"hessian_weights_config\": []}", OGQ_ERR_USAGE,
                   "line 1: refine setting 'hessian_weights_config': expected an object or null");
    check_bad_file("{\"hessian_weights_config\": {\"hessians_num_samples\": \"null\"}}",
                   OGQ_ERR_USAGE,
                   "line 1: refine setting 'hessian_weights_config."
                   "hessians_num_samples': expected an integer in [1, 2147483647] "
                   "or null, got string \"null\"");
    check_bad_file("[]", OGQ_ERR_USAGE, "line 1: a refine configuration is a JSON object");
    /* bad values deep inside, after good ones: nothing is applied */
    check_bad_file("{\"n_epochs\": 9, \"optimizer_bias\": {\"lr\": 0.5},\n"
                   " \"optimizer_rest\": {\"beta_1\": 1.0}}",
                   OGQ_ERR_USAGE,
                   "line 2: refine setting 'optimizer_rest.beta_1': expected a number in "
                   "[0, 1), got '1.0'");
    /* files that cannot be read, or are too big */
    struct ogq_refine_config c;
    struct ogq_error err;
    ogq_refine_config_init(&c);
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&c, "/nonexistent/cfg.json", &err), OGQ_ERR_IO);
    CU_ASSERT(starts_with(err.msg, "/nonexistent/cfg.json: cannot open: "));
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&c, "/tmp", &err), OGQ_ERR_IO);
    CU_ASSERT(starts_with(err.msg, "/tmp: "));
    size_t big_len = (1u << 20) + 1;
    char *big = malloc(big_len);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, ' ', big_len);
    big[0] = '{';
    big[big_len - 1] = '}';
    char path[64];
    write_temp(path, big, big_len);
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&c, path, &err), OGQ_ERR_FORMAT);
    CU_ASSERT(starts_with(err.msg, path) && strstr(err.msg, "larger than 1048576 bytes") != NULL);
    unlink(path);
    /* Exactly 1 MiB is still read. */
    big[big_len - 2] = '}';
    write_temp(path, big, big_len - 1);
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&c, path, &err), OGQ_OK);
    unlink(path);
    free(big);
}

/* ---- round trip ---- */

/* Writes c with the JSON writer into a temp file; returns the text (caller frees). */
static char *write_config(const struct ogq_refine_config *c, char *path)
{
    strcpy(path, "/tmp/ogq_cfg_XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w+b");
    CU_ASSERT_FATAL(f != NULL);
    struct ogq_json j;
    ogq_json_init(&j, f, true);
    ogq_refine_config_write_json(c, &j);
    fputc('\n', f);
    long n = ftell(f);
    rewind(f);
    char *text = calloc((size_t)n + 1, 1);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_EQUAL(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static void test_round_trip(void)
{
    struct ogq_refine_config a, b;
    struct ogq_error err;
    ogq_refine_config_init(&a);
    /* Every field differs from its default (values exact in %.9g). */
    a.n_epochs = 11;
    a.n_steps = 123;
    a.optimizer = (struct ogq_adam_config){0.0125, 0.85, 0.995, 1e-7};
    a.optimizer_rest = (struct ogq_adam_config){0.00025, 0.75, 0.9, 3e-9};
    a.has_optimizer_bias = true;
    a.optimizer_bias = (struct ogq_adam_config){0.5, 0.5, 0.25, 0.125};
    a.has_optimizer_quantization_parameter = true;
    a.optimizer_quantization_parameter = (struct ogq_adam_config){2.5, 0.0, 0.5, 1e-3};
    a.train_bias = false;
    a.regularization_factor = 0.375;
    a.rounding_type = OGQ_ROUNDING_STE;
    a.use_hessian_based_weights = false;
    a.hessian_weights_config = (struct ogq_hessian_weights_config){.per_sample = true,
                                                                   .hessians_num_samples = -1,
                                                                   .norm_scores = false,
                                                                   .log_norm = false,
                                                                   .scale_log_norm = true,
                                                                   .hessian_batch_size = 7,
                                                                   .num_probes = 3};
    a.gradual_activation_quantization_config = (struct ogq_gaq_config){.enabled = true,
                                                                       .initial_q_fraction = 0.125,
                                                                       .target_q_fraction = 0.875,
                                                                       .start_step = 5,
                                                                       .end_step = 77};
    a.quantization_parameter_learning = true;
    a.seed = 9007199254740993ull; /* 2^53 + 1: not exact as a double */
    CU_ASSERT_EQUAL(ogq_refine_config_validate(&a, &err), OGQ_OK);
    char path[64];
    char *text = write_config(&a, path);
    /* The file is plain JSON with the documented names. */
    struct ogq_jvalue *v = NULL;
    CU_ASSERT_EQUAL_FATAL(ogq_json_parse(text, strlen(text), &v, &err), OGQ_OK);
    CU_ASSERT(v->type == OGQ_JOBJECT && v->n == 14);
    const struct ogq_jvalue *seed = ogq_jobject_get(v, "seed");
    CU_ASSERT(seed && strcmp(seed->num_text, "9007199254740993") == 0);
    const struct ogq_jvalue *ns = ogq_jobject_get(v, "n_steps");
    CU_ASSERT(ns && ns->num == 123.0);
    const struct ogq_jvalue *hw = ogq_jobject_get(v, "hessian_weights_config");
    CU_ASSERT(hw && ogq_jobject_get(hw, "hessians_num_samples") &&
              ogq_jobject_get(hw, "hessians_num_samples")->type == OGQ_JNULL);
    const struct ogq_jvalue *rt = ogq_jobject_get(v, "rounding_type");
    CU_ASSERT(rt && rt->type == OGQ_JSTRING && strcmp(rt->str, "STE") == 0);
    ogq_jvalue_free(v);
    ogq_refine_config_init(&b);
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&b, path, &err), OGQ_OK);
    CU_ASSERT(cfg_eq(&a, &b, false));
    unlink(path);
    free(text);
    /* Switched-off groups are written as null and load back switched off. */
    a.has_optimizer_bias = false;
    a.has_optimizer_quantization_parameter = false;
    a.gradual_activation_quantization_config.enabled = false;
    a.use_hessian_based_weights = true;
    a.gradual_activation_quantization_config.end_step = -1;
    text = write_config(&a, path);
    CU_ASSERT_EQUAL_FATAL(ogq_json_parse(text, strlen(text), &v, &err), OGQ_OK);
    CU_ASSERT(ogq_jobject_get(v, "optimizer_bias")->type == OGQ_JNULL);
    CU_ASSERT(ogq_jobject_get(v, "optimizer_quantization_parameter")->type == OGQ_JNULL);
    CU_ASSERT(ogq_jobject_get(v, "gradual_activation_quantization_config")->type == OGQ_JNULL);
    ogq_jvalue_free(v);
    ogq_refine_config_init(&b);
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&b, path, &err), OGQ_OK);
    CU_ASSERT(cfg_eq(&a, &b, true));
    unlink(path);
    free(text);
    /* Defaults round-trip too (end_step null). */
    ogq_refine_config_init(&a);
    text = write_config(&a, path);
    CU_ASSERT(strstr(text, "\"end_step\": null") != NULL);
    b = a;
    b.n_epochs = 99;
    CU_ASSERT_EQUAL(ogq_refine_config_load_json(&b, path, &err), OGQ_OK);
    CU_ASSERT(cfg_eq(&a, &b, false));
    unlink(path);
    free(text);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("refine-config", NULL, NULL);
    CU_add_test(s, "json: values and positions", test_json_values_and_positions);
    CU_add_test(s, "json: escapes and UTF-8", test_json_escapes);
    CU_add_test(s, "json: numbers", test_json_numbers);
    CU_add_test(s, "json: rejected documents", test_json_rejects);
    CU_add_test(s, "json: depth limit", test_json_depth_limit);
    CU_add_test(s, "config: MCT defaults", test_defaults);
    CU_add_test(s, "config: every setter", test_every_setter);
    CU_add_test(s, "config: bad values", test_bad_values);
    CU_add_test(s, "config: cross-field validation", test_validate);
    CU_add_test(s, "config: good JSON files", test_json_file_good);
    CU_add_test(s, "config: bad JSON files", test_json_file_bad);
    CU_add_test(s, "config: write_json -> load_json round trip", test_round_trip);
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

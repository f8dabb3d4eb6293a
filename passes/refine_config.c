/* refine_config.c — GradientPTQConfig-style settings: defaults, one validating setter,
 * the JSON file loader and the effective-config writer.
 *
 * Every scalar setting is a row of one table (dotted name, kind, field offset, range), so
 * the CLI form, the JSON loader and ogq_refine_config_validate all check values in the
 * same place. Optional sub-configurations ("groups": optimizer_bias,
 * optimizer_quantization_parameter, gradual_activation_quantization_config) switch on
 * when any of their members is set; `null` on the group name switches them off.
 *
 * A failing call leaves the configuration unchanged (values are parsed and checked
 * before anything is stored; the JSON loader works on a copy).
 */
#include "refine_config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/json_parse.h"

#define CONFIG_FILE_MAX (1u << 20) /* 1 MiB: far above any real config, bounds the parse */
#define NAME_MAX_LEN 200           /* longer dotted names cannot be settings */
/* Epochs, steps and sample counts: small enough that products with batch counts stay far
 * from int64 overflow. */
#define COUNT_MAX 2147483647

/* ---- the settings table ---- */

enum kind { K_INT, K_SEED, K_FLOAT, K_BOOL, K_ROUNDING, K_ADAM_TYPE };

enum fcheck { F_POSITIVE, F_NONNEG, F_BETA, F_FRACTION };

/* Optional sub-configurations that setting one of their members switches on. */
enum group { G_NONE, G_BIAS, G_QP, G_GAQ };

struct setting {
    const char *name;
    enum kind kind;
    size_t off; /* of the field in struct ogq_refine_config (unused for K_ADAM_TYPE) */
    enum group group;
    enum fcheck fcheck; /* K_FLOAT */
    int64_t min, max;   /* K_INT, K_SEED */
    bool nullable;      /* K_INT: null stored as -1 ("every sample" / "the last step") */
};

#define OFF(field) offsetof(struct ogq_refine_config, field)
#define INT(nm, field, lo, hi)                                                                     \
    {                                                                                              \
        .name = nm, .kind = K_INT, .off = OFF(field), .min = lo, .max = hi                         \
    }
#define FLT(nm, field, chk, grp)                                                                   \
    {                                                                                              \
        .name = nm, .kind = K_FLOAT, .off = OFF(field), .group = grp, .fcheck = chk                \
    }
#define BOOL(nm, field)                                                                            \
    {                                                                                              \
        .name = nm, .kind = K_BOOL, .off = OFF(field)                                              \
    }
#define ADAM(obj, grp)                                                                             \
    {.name = #obj ".type", .kind = K_ADAM_TYPE, .group = grp},                                     \
        FLT(#obj ".lr", obj.lr, F_POSITIVE, grp), FLT(#obj ".beta_1", obj.beta_1, F_BETA, grp),    \
        FLT(#obj ".beta_2", obj.beta_2, F_BETA, grp), FLT(#obj ".eps", obj.eps, F_POSITIVE, grp)
#define HW "hessian_weights_config."
#define QF "gradual_activation_quantization_config.q_fraction_scheduler_policy."

static const struct setting SETTINGS[] = {
    INT("n_epochs", n_epochs, 1, COUNT_MAX),
    INT("n_steps", n_steps, 0, COUNT_MAX),
    ADAM(optimizer, G_NONE),
    ADAM(optimizer_rest, G_NONE),
    ADAM(optimizer_bias, G_BIAS),
    ADAM(optimizer_quantization_parameter, G_QP),
    BOOL("train_bias", train_bias),
    FLT("regularization_factor", regularization_factor, F_NONNEG, G_NONE),
    {.name = "rounding_type", .kind = K_ROUNDING, .off = OFF(rounding_type)},
    BOOL("use_hessian_based_weights", use_hessian_based_weights),
    BOOL(HW "per_sample", hessian_weights_config.per_sample),
    {.name = HW "hessians_num_samples",
     .kind = K_INT,
     .off = OFF(hessian_weights_config.hessians_num_samples),
     .min = 1,
     .max = COUNT_MAX,
     .nullable = true},
    BOOL(HW "norm_scores", hessian_weights_config.norm_scores),
    BOOL(HW "log_norm", hessian_weights_config.log_norm),
    BOOL(HW "scale_log_norm", hessian_weights_config.scale_log_norm),
    INT(HW "hessian_batch_size", hessian_weights_config.hessian_batch_size, 1, COUNT_MAX),
    INT(HW "num_probes", hessian_weights_config.num_probes, 1, 1024),
    FLT(QF "initial_q_fraction", gradual_activation_quantization_config.initial_q_fraction,
        F_FRACTION, G_GAQ),
    FLT(QF "target_q_fraction", gradual_activation_quantization_config.target_q_fraction,
        F_FRACTION, G_GAQ),
    {.name = QF "start_step",
     .kind = K_INT,
     .off = OFF(gradual_activation_quantization_config.start_step),
     .group = G_GAQ,
     .min = 0,
     .max = COUNT_MAX},
    {.name = QF "end_step",
     .kind = K_INT,
     .off = OFF(gradual_activation_quantization_config.end_step),
     .group = G_GAQ,
     .min = 0,
     .max = COUNT_MAX,
     .nullable = true},
    BOOL("gptq_quantizer_params_override.quantization_parameter_learning",
         quantization_parameter_learning),
    {.name = "seed", .kind = K_SEED, .off = OFF(seed), .min = 0, .max = INT64_MAX},
};
#define N_SETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

enum null_action { NULL_REJECT, NULL_NO_BIAS, NULL_NO_QP, NULL_NO_HESSIAN, NULL_NO_GAQ };

/* Names that hold a nested object in JSON. */
struct object_name {
    const char *name;
    enum group enables; /* a JSON object here switches this group on */
    enum null_action on_null;
    const char *why_required; /* NULL_REJECT: why null is refused */
};

static const struct object_name OBJECTS[] = {
    {"optimizer", G_NONE, NULL_REJECT, "the rounding variables always need an optimizer"},
    {"optimizer_rest", G_NONE, NULL_REJECT,
     "it trains the bias and quantization parameters unless their own optimizers are set"},
    {"optimizer_bias", G_BIAS, NULL_NO_BIAS, NULL},
    {"optimizer_quantization_parameter", G_QP, NULL_NO_QP, NULL},
    {"hessian_weights_config", G_NONE, NULL_NO_HESSIAN, NULL},
    {"gradual_activation_quantization_config", G_GAQ, NULL_NO_GAQ, NULL},
    {"gradual_activation_quantization_config.q_fraction_scheduler_policy", G_GAQ, NULL_REJECT,
     "set gradual_activation_quantization_config to null to turn the schedule off"},
    {"gptq_quantizer_params_override", G_NONE, NULL_REJECT,
     "set its member quantization_parameter_learning instead"},
};
#define N_OBJECTS (sizeof OBJECTS / sizeof OBJECTS[0])

/* MCT settings we deliberately do not offer, with the reason. */
static const struct {
    const char *name, *why;
} UNSUPPORTED[] = {
    {"loss", "the loss is the Hessian-weighted MSE at each quantized layer's output"},
    {"log_function", "refinement progress is reported by the command-line tool"},
};

/* ---- values as they arrive ---- */

/* V_TEXT is command-line text (any type, parsed by the setting); the others are typed
 * JSON values, which must match the setting's type. */
enum vkind { V_TEXT, V_NULL, V_BOOL, V_NUMBER, V_STRING, V_ARRAY, V_OBJECT };

struct val {
    enum vkind kind;
    const char *text; /* V_TEXT, V_NUMBER (as written), V_STRING, V_BOOL; else NULL */
};

static const char *describe_val(struct val v, char *buf, size_t size)
{
    switch (v.kind) {
    case V_NULL:
        return "null";
    case V_ARRAY:
        return "an array";
    case V_OBJECT:
        return "an object";
    case V_STRING:
        snprintf(buf, size, "string \"%.80s\"", v.text);
        return buf;
    default:
        snprintf(buf, size, "'%.80s'", v.text);
        return buf;
    }
}

static enum ogq_status bad_value(const char *name, const char *expected, struct val v,
                                 struct ogq_error *err)
{
    char got[128];
    return ogq_error_set(err, OGQ_ERR_USAGE, "refine setting '%s': expected %s, got %s", name,
                         expected, describe_val(v, got, sizeof got));
}

static bool is_null_text(struct val v)
{
    return v.kind == V_NULL || (v.kind == V_TEXT && strcasecmp(v.text, "null") == 0);
}

/* Decimal number text: [+-] digits [. digits] [e [+-] digits], digits on at least one side
 * of the point. A superset of JSON numbers (".5", "+1", "05" are fine on the command line)
 * that leaves out strtod's hex, inf and nan. */
static bool number_syntax_ok(const char *s, bool *integer_only)
{
    size_t digits = 0;
    *integer_only = true;
    if (*s == '+' || *s == '-')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (*s == '.') {
        *integer_only = false;
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    }
    if (digits == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        *integer_only = false;
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static void expected_int(const struct setting *s, char *buf, size_t size)
{
    if (s->max == INT64_MAX)
        snprintf(buf, size, "an integer >= %lld%s", (long long)s->min,
                 s->nullable ? " or null" : "");
    else
        snprintf(buf, size, "an integer in [%lld, %lld]%s", (long long)s->min, (long long)s->max,
                 s->nullable ? " or null" : "");
}

/* Integral numbers only: "5", "5.0" and "1e3" are fine, "2.5" is not. Digit strings go
 * through strtoll so every int64 is exact; others through strtod (exact up to 2^53). */
static enum ogq_status parse_int(const struct setting *s, struct val v, int64_t *out,
                                 struct ogq_error *err)
{
    char expected[96];
    expected_int(s, expected, sizeof expected);
    if (s->nullable && is_null_text(v)) {
        *out = -1;
        return OGQ_OK;
    }
    bool integer_only;
    if ((v.kind != V_TEXT && v.kind != V_NUMBER) || !number_syntax_ok(v.text, &integer_only))
        return bad_value(s->name, expected, v, err);
    long long x;
    if (integer_only) {
        errno = 0;
        x = strtoll(v.text, NULL, 10);
        if (errno == ERANGE)
            return bad_value(s->name, expected, v, err);
    } else {
        double d = strtod(v.text, NULL);
        /* 2^63 is exactly representable; anything at or beyond it does not fit. */
        if (!isfinite(d) || d != floor(d) || d >= 9223372036854775808.0 ||
            d < -9223372036854775808.0)
            return bad_value(s->name, expected, v, err);
        x = (long long)d;
    }
    if (x < s->min || x > s->max)
        return bad_value(s->name, expected, v, err);
    *out = x;
    return OGQ_OK;
}

static const char *expected_float(enum fcheck c)
{
    switch (c) {
    case F_POSITIVE:
        return "a number > 0";
    case F_NONNEG:
        return "a number >= 0";
    case F_BETA:
        return "a number in [0, 1)";
    case F_FRACTION:
        return "a number in [0, 1]";
    }
    return "a number";
}

static bool float_ok(enum fcheck c, double d)
{
    if (!isfinite(d))
        return false;
    switch (c) {
    case F_POSITIVE:
        return d > 0;
    case F_NONNEG:
        return d >= 0;
    case F_BETA:
        return d >= 0 && d < 1;
    case F_FRACTION:
        return d >= 0 && d <= 1;
    }
    return false;
}

static enum ogq_status parse_float(const struct setting *s, struct val v, double *out,
                                   struct ogq_error *err)
{
    bool integer_only;
    if ((v.kind != V_TEXT && v.kind != V_NUMBER) || !number_syntax_ok(v.text, &integer_only))
        return bad_value(s->name, expected_float(s->fcheck), v, err);
    double d = strtod(v.text, NULL); /* overflow gives ±HUGE_VAL, caught as not finite */
    if (!float_ok(s->fcheck, d))
        return bad_value(s->name, expected_float(s->fcheck), v, err);
    *out = d;
    return OGQ_OK;
}

static enum ogq_status parse_bool(const struct setting *s, struct val v, bool *out,
                                  struct ogq_error *err)
{
    const char *expected = v.kind == V_TEXT ? "true or false (or 1/0)" : "true or false";
    if (v.kind == V_BOOL || v.kind == V_TEXT) {
        if (strcasecmp(v.text, "true") == 0 || (v.kind == V_TEXT && strcmp(v.text, "1") == 0)) {
            *out = true;
            return OGQ_OK;
        }
        if (strcasecmp(v.text, "false") == 0 || (v.kind == V_TEXT && strcmp(v.text, "0") == 0)) {
            *out = false;
            return OGQ_OK;
        }
    }
    return bad_value(s->name, expected, v, err);
}

static enum ogq_status parse_rounding(const struct setting *s, struct val v,
                                      enum ogq_rounding_type *out, struct ogq_error *err)
{
    if (v.kind == V_TEXT || v.kind == V_STRING) {
        if (strcasecmp(v.text, "SoftQuantizer") == 0 || strcasecmp(v.text, "soft") == 0) {
            *out = OGQ_ROUNDING_SOFT;
            return OGQ_OK;
        }
        if (strcasecmp(v.text, "STE") == 0) {
            *out = OGQ_ROUNDING_STE;
            return OGQ_OK;
        }
    }
    return bad_value(s->name, "SoftQuantizer or STE", v, err);
}

static enum ogq_status parse_adam_type(const struct setting *s, struct val v, struct ogq_error *err)
{
    if ((v.kind == V_TEXT || v.kind == V_STRING) && strcasecmp(v.text, "Adam") == 0)
        return OGQ_OK;
    return bad_value(s->name, "\"Adam\" (the only optimizer offered)", v, err);
}

/* ---- lookup and the setter ---- */

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(SETTINGS[i].name, name) == 0)
            return &SETTINGS[i];
    return NULL;
}

static const struct object_name *find_object(const char *name)
{
    for (size_t i = 0; i < N_OBJECTS; i++)
        if (strcmp(OBJECTS[i].name, name) == 0)
            return &OBJECTS[i];
    return NULL;
}

/* Appends to `list` each known name directly under `parent` ("" for the top level). */
static void list_children(const char *parent, char *list, size_t size)
{
    size_t plen = strlen(parent), used = 0;
    list[0] = '\0';
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? N_SETTINGS : N_OBJECTS;
        for (size_t i = 0; i < n; i++) {
            const char *full = pass == 0 ? SETTINGS[i].name : OBJECTS[i].name;
            if (plen && (strncmp(full, parent, plen) != 0 || full[plen] != '.'))
                continue;
            const char *child = plen ? full + plen + 1 : full;
            if (strchr(child, '.'))
                continue;
            int w = snprintf(list + used, size - used, "%s%s", used ? ", " : "", child);
            if (w < 0 || (size_t)w >= size - used)
                return;
            used += (size_t)w;
        }
    }
}

static enum ogq_status unknown_name(const char *name, struct ogq_error *err)
{
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; i++) {
        size_t n = strlen(UNSUPPORTED[i].name);
        if (strncmp(name, UNSUPPORTED[i].name, n) == 0 && (name[n] == '\0' || name[n] == '.'))
            return ogq_error_set(err, OGQ_ERR_USAGE, "'%s' is not configurable: %s",
                                 UNSUPPORTED[i].name, UNSUPPORTED[i].why);
    }
    /* Suggest the members of the deepest known group the name lies under. */
    const char *parent = "";
    for (size_t i = 0; i < N_OBJECTS; i++) {
        size_t n = strlen(OBJECTS[i].name);
        if (n > strlen(parent) && strncmp(name, OBJECTS[i].name, n) == 0 && name[n] == '.')
            parent = OBJECTS[i].name;
    }
    char list[640];
    list_children(parent, list, sizeof list);
    if (*parent)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "unknown refine setting '%.200s' (settings under '%s': %s)", name,
                             parent, list);
    return ogq_error_set(err, OGQ_ERR_USAGE, "unknown refine setting '%.200s' (settings: %s)", name,
                         list);
}

static void enable_group(struct ogq_refine_config *c, enum group g)
{
    switch (g) {
    case G_NONE:
        break;
    case G_BIAS:
        if (!c->has_optimizer_bias) { /* start from what it replaces */
            c->optimizer_bias = c->optimizer_rest;
            c->has_optimizer_bias = true;
        }
        break;
    case G_QP:
        if (!c->has_optimizer_quantization_parameter) {
            c->optimizer_quantization_parameter = c->optimizer_rest;
            c->has_optimizer_quantization_parameter = true;
        }
        break;
    case G_GAQ:
        c->gradual_activation_quantization_config.enabled = true;
        break;
    }
}

/* A value given for a group name: null switches the group off where that is allowed. */
static enum ogq_status set_object(struct ogq_refine_config *c, const struct object_name *o,
                                  struct val v, struct ogq_error *err)
{
    if (is_null_text(v)) {
        switch (o->on_null) {
        case NULL_REJECT:
            return ogq_error_set(err, OGQ_ERR_USAGE, "refine setting '%s': cannot be null (%s)",
                                 o->name, o->why_required);
        case NULL_NO_BIAS:
            c->has_optimizer_bias = false;
            return OGQ_OK;
        case NULL_NO_QP:
            c->has_optimizer_quantization_parameter = false;
            return OGQ_OK;
        case NULL_NO_HESSIAN:
            c->use_hessian_based_weights = false;
            return OGQ_OK;
        case NULL_NO_GAQ:
            c->gradual_activation_quantization_config.enabled = false;
            return OGQ_OK;
        }
    }
    char members[400], expected[480];
    list_children(o->name, members, sizeof members);
    snprintf(expected, sizeof expected, "%s (members: %s)",
             o->on_null == NULL_REJECT ? "an object" : "an object or null", members);
    if (v.kind == V_TEXT)
        snprintf(expected, sizeof expected, "%s: set its members (%s)%s", "a group of settings",
                 members, o->on_null == NULL_REJECT ? "" : ", or null to leave it out");
    return bad_value(o->name, expected, v, err);
}

static void *field(struct ogq_refine_config *c, const struct setting *s)
{
    return (char *)c + s->off;
}

static enum ogq_status set_value(struct ogq_refine_config *c, const char *name, struct val v,
                                 struct ogq_error *err)
{
    const struct setting *s = find_setting(name);
    if (!s) {
        const struct object_name *o = find_object(name);
        return o ? set_object(c, o, v, err) : unknown_name(name, err);
    }
    /* Parse first, store after, so a bad value changes nothing. */
    switch (s->kind) {
    case K_INT: {
        int64_t x = 0;
        OGQ_TRY(parse_int(s, v, &x, err));
        enable_group(c, s->group);
        *(int64_t *)field(c, s) = x;
        break;
    }
    case K_SEED: {
        int64_t x = 0;
        OGQ_TRY(parse_int(s, v, &x, err));
        *(uint64_t *)field(c, s) = (uint64_t)x;
        break;
    }
    case K_FLOAT: {
        double d = 0;
        OGQ_TRY(parse_float(s, v, &d, err));
        enable_group(c, s->group);
        *(double *)field(c, s) = d;
        break;
    }
    case K_BOOL: {
        bool b = false;
        OGQ_TRY(parse_bool(s, v, &b, err));
        *(bool *)field(c, s) = b;
        break;
    }
    case K_ROUNDING: {
        enum ogq_rounding_type t = OGQ_ROUNDING_SOFT;
        OGQ_TRY(parse_rounding(s, v, &t, err));
        *(enum ogq_rounding_type *)field(c, s) = t;
        break;
    }
    case K_ADAM_TYPE:
        OGQ_TRY(parse_adam_type(s, v, err));
        enable_group(c, s->group);
        break;
    }
    return OGQ_OK;
}

/* ---- public API ---- */

static void adam_init(struct ogq_adam_config *a, double lr)
{
    a->lr = lr;
    a->beta_1 = 0.9;
    a->beta_2 = 0.999;
    a->eps = 1e-8;
}

void ogq_refine_config_init(struct ogq_refine_config *c)
{
    memset(c, 0, sizeof *c);
    c->n_epochs = 20; /* MCT has no default; ours: each step is a full-batch gradient */
    c->n_steps = 0;
    adam_init(&c->optimizer, 3e-2);
    adam_init(&c->optimizer_rest, 1e-4);
    /* Disabled, but filled so the struct never holds garbage. */
    c->has_optimizer_bias = false;
    c->optimizer_bias = c->optimizer_rest;
    c->has_optimizer_quantization_parameter = false;
    c->optimizer_quantization_parameter = c->optimizer_rest;
    c->train_bias = true;
    c->regularization_factor = 0.01;
    c->rounding_type = OGQ_ROUNDING_SOFT;
    c->use_hessian_based_weights = true;
    c->hessian_weights_config = (struct ogq_hessian_weights_config){
        .per_sample = false,
        .hessians_num_samples = 32,
        .norm_scores = true,
        .log_norm = true,
        .scale_log_norm = false,
        .hessian_batch_size = 32,
        .num_probes = 2,
    };
    c->gradual_activation_quantization_config = (struct ogq_gaq_config){
        .enabled = true,
        .initial_q_fraction = 0.0,
        .target_q_fraction = 1.0,
        .start_step = 0,
        .end_step = -1,
    };
    c->quantization_parameter_learning = false;
    c->seed = 0;
}

enum ogq_status ogq_refine_config_set(struct ogq_refine_config *c, const char *name,
                                      const char *value, struct ogq_error *err)
{
    if (!name || !*name)
        return ogq_error_set(err, OGQ_ERR_USAGE, "refine setting: empty name");
    if (!value)
        return ogq_error_set(err, OGQ_ERR_USAGE, "refine setting '%.200s': no value", name);
    return set_value(c, name, (struct val){V_TEXT, value}, err);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

enum ogq_status ogq_refine_config_set_pair(struct ogq_refine_config *c, const char *pair,
                                           struct ogq_error *err)
{
    const char *eq = pair ? strchr(pair, '=') : NULL;
    if (!eq)
        return ogq_error_set(
            err, OGQ_ERR_USAGE,
            "refine setting '%.200s': expected NAME=VALUE (e.g. optimizer.lr=0.01)",
            pair ? pair : "");
    /* Trim blanks around both sides ("optimizer.lr = 0.01" when quoted as one word). */
    const char *nb = pair, *ne = eq, *vb = eq + 1, *ve = eq + strlen(eq);
    while (nb < ne && is_space(*nb))
        nb++;
    while (ne > nb && is_space(ne[-1]))
        ne--;
    while (vb < ve && is_space(*vb))
        vb++;
    while (ve > vb && is_space(ve[-1]))
        ve--;
    size_t nlen = (size_t)(ne - nb), vlen = (size_t)(ve - vb);
    if (nlen == 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "refine setting '%.200s': missing name before '='",
                             pair);
    if (nlen > NAME_MAX_LEN)
        nlen = NAME_MAX_LEN; /* cannot match a setting; still named in the message */
    char name[NAME_MAX_LEN + 1];
    memcpy(name, nb, nlen);
    name[nlen] = '\0';
    char *value = malloc(vlen + 1);
    if (!value)
        return OGQ_NOMEM(err);
    memcpy(value, vb, vlen);
    value[vlen] = '\0';
    enum ogq_status st = ogq_refine_config_set(c, name, value, err);
    free(value);
    return st;
}

/* ---- JSON file ---- */

static struct val json_val(const struct ogq_jvalue *v)
{
    switch (v->type) {
    case OGQ_JNULL:
        return (struct val){V_NULL, "null"};
    case OGQ_JBOOL:
        return (struct val){V_BOOL, v->b ? "true" : "false"};
    case OGQ_JNUMBER:
        return (struct val){V_NUMBER, v->num_text};
    case OGQ_JSTRING:
        return (struct val){V_STRING, v->str};
    case OGQ_JARRAY:
        return (struct val){V_ARRAY, NULL};
    case OGQ_JOBJECT:
        break;
    }
    return (struct val){V_OBJECT, NULL};
}

static enum ogq_status apply_object(struct ogq_refine_config *c, const struct ogq_jvalue *obj,
                                    const char *prefix, const char *path, struct ogq_error *err);

/* Applies one member `name` (full dotted name) of the file. */
static enum ogq_status apply_member(struct ogq_refine_config *c, const char *name,
                                    const struct ogq_jvalue *v, const char *path,
                                    struct ogq_error *err)
{
    const struct object_name *o = v->type == OGQ_JOBJECT ? find_object(name) : NULL;
    if (o) {
        enable_group(c, o->enables);
        return apply_object(c, v, name, path, err);
    }
    enum ogq_status st = set_value(c, name, json_val(v), err);
    if (st != OGQ_OK)
        ogq_error_prefix(err, "%s: line %d", path, v->line);
    return st;
}

static enum ogq_status apply_object(struct ogq_refine_config *c, const struct ogq_jvalue *obj,
                                    const char *prefix, const char *path, struct ogq_error *err)
{
    for (size_t i = 0; i < obj->n; i++) {
        char name[NAME_MAX_LEN + 1];
        int w = snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", obj->keys[i]);
        if (w < 0 || (size_t)w >= sizeof name) {
            ogq_error_set(err, OGQ_ERR_USAGE, "unknown refine setting '%s...'", name);
            ogq_error_prefix(err, "%s: line %d", path, obj->items[i].line);
            return OGQ_ERR_USAGE;
        }
        OGQ_TRY(apply_member(c, name, &obj->items[i], path, err));
    }
    return OGQ_OK;
}

/* Reads at most CONFIG_FILE_MAX bytes of `path` into a new buffer (caller frees). */
static enum ogq_status read_small_file(const char *path, char **out, size_t *out_len,
                                       struct ogq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return OGQ_NOMEM(err);
    }
    /* One byte past the cap tells "too large" from "exactly at the cap". */
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    int read_errno = errno;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(buf);
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot read: %s", path, strerror(read_errno));
    }
    if (n > CONFIG_FILE_MAX) {
        free(buf);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "%s: larger than %u bytes; not a refine configuration", path,
                             CONFIG_FILE_MAX);
    }
    *out = buf;
    *out_len = n;
    return OGQ_OK;
}

enum ogq_status ogq_refine_config_load_json(struct ogq_refine_config *c, const char *path,
                                            struct ogq_error *err)
{
    char *text = NULL;
    size_t len = 0;
    OGQ_TRY(read_small_file(path, &text, &len, err));
    struct ogq_jvalue *root;
    enum ogq_status st = ogq_json_parse(text, len, &root, err);
    free(text);
    if (st != OGQ_OK) {
        ogq_error_prefix(err, "%s", path);
        return st;
    }
    if (root->type != OGQ_JOBJECT) {
        st = ogq_error_set(err, OGQ_ERR_USAGE,
                           "%s: line %d: a refine configuration is a JSON object, got %s", path,
                           root->line, ogq_jtype_name(root->type));
    } else {
        /* Work on a copy so a bad file leaves the caller's settings as they were. */
        struct ogq_refine_config tmp = *c;
        st = apply_object(&tmp, root, "", path, err);
        if (st == OGQ_OK)
            *c = tmp;
    }
    ogq_jvalue_free(root);
    return st;
}

/* ---- validation ---- */

static bool group_enabled(const struct ogq_refine_config *c, enum group g)
{
    switch (g) {
    case G_NONE:
        return true;
    case G_BIAS:
        return c->has_optimizer_bias;
    case G_QP:
        return c->has_optimizer_quantization_parameter;
    case G_GAQ:
        return c->gradual_activation_quantization_config.enabled;
    }
    return true;
}

/* Re-checks each stored value against its table row (the struct may have been filled by
 * code rather than through the setter). */
static enum ogq_status validate_fields(const struct ogq_refine_config *c, struct ogq_error *err)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *s = &SETTINGS[i];
        if (!group_enabled(c, s->group))
            continue;
        const void *p = (const char *)c + s->off;
        char text[64], expected[96];
        switch (s->kind) {
        case K_INT: {
            int64_t x = *(const int64_t *)p;
            if ((s->nullable && x < s->min) || (x >= s->min && x <= s->max))
                break;
            snprintf(text, sizeof text, "%lld", (long long)x);
            expected_int(s, expected, sizeof expected);
            return bad_value(s->name, expected, (struct val){V_TEXT, text}, err);
        }
        case K_SEED: {
            uint64_t x = *(const uint64_t *)p;
            if (x <= (uint64_t)INT64_MAX)
                break;
            snprintf(text, sizeof text, "%llu", (unsigned long long)x);
            expected_int(s, expected, sizeof expected);
            return bad_value(s->name, expected, (struct val){V_TEXT, text}, err);
        }
        case K_FLOAT: {
            double d = *(const double *)p;
            if (float_ok(s->fcheck, d))
                break;
            snprintf(text, sizeof text, "%.9g", d);
            return bad_value(s->name, expected_float(s->fcheck), (struct val){V_TEXT, text}, err);
        }
        case K_ROUNDING: {
            enum ogq_rounding_type t = *(const enum ogq_rounding_type *)p;
            if (t == OGQ_ROUNDING_SOFT || t == OGQ_ROUNDING_STE)
                break;
            snprintf(text, sizeof text, "%d", (int)t);
            return bad_value(s->name, "SoftQuantizer or STE", (struct val){V_TEXT, text}, err);
        }
        case K_BOOL:
        case K_ADAM_TYPE:
            break;
        }
    }
    return OGQ_OK;
}

enum ogq_status ogq_refine_config_validate(const struct ogq_refine_config *c, struct ogq_error *err)
{
    OGQ_TRY(validate_fields(c, err));
    const struct ogq_gaq_config *g = &c->gradual_activation_quantization_config;
    if (g->enabled) {
        /* MCT's QFractionLinearAnnealingConfig checks. */
        if (!(0.0 <= g->initial_q_fraction && g->initial_q_fraction < g->target_q_fraction &&
              g->target_q_fraction <= 1.0))
            return ogq_error_set(
                err, OGQ_ERR_USAGE,
                "refine settings '" QF "initial_q_fraction' and 'target_q_fraction': need "
                "0 <= initial_q_fraction < target_q_fraction <= 1, got %.9g and %.9g",
                g->initial_q_fraction, g->target_q_fraction);
        if (g->end_step >= 0 && g->end_step <= g->start_step)
            return ogq_error_set(err, OGQ_ERR_USAGE,
                                 "refine setting '" QF "end_step': must be greater than "
                                 "start_step (%lld) or null for the last step, got %lld",
                                 (long long)g->start_step, (long long)g->end_step);
    }
    const struct ogq_hessian_weights_config *h = &c->hessian_weights_config;
    if (c->use_hessian_based_weights && h->per_sample && h->hessians_num_samples > 0)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "refine setting '" HW "per_sample': per-sample Hessian weights "
                             "use every calibration sample, so " HW "hessians_num_samples must "
                             "be null, got %lld",
                             (long long)h->hessians_num_samples);
    return OGQ_OK;
}

/* ---- writing ---- */

static void write_adam(struct ogq_json *j, const char *key, const struct ogq_adam_config *a,
                       bool present)
{
    ogq_json_key(j, key);
    if (!present) {
        ogq_json_null(j);
        return;
    }
    ogq_json_begin_object(j);
    ogq_json_key(j, "type");
    ogq_json_string(j, "Adam");
    ogq_json_key(j, "lr");
    ogq_json_double(j, a->lr);
    ogq_json_key(j, "beta_1");
    ogq_json_double(j, a->beta_1);
    ogq_json_key(j, "beta_2");
    ogq_json_double(j, a->beta_2);
    ogq_json_key(j, "eps");
    ogq_json_double(j, a->eps);
    ogq_json_end_object(j);
}

/* null for the "null" encoding of nullable counts (< 1 / < 0 as documented). */
static void write_count_or_null(struct ogq_json *j, const char *key, int64_t v, int64_t min)
{
    ogq_json_key(j, key);
    if (v < min)
        ogq_json_null(j);
    else
        ogq_json_int(j, v);
}

void ogq_refine_config_write_json(const struct ogq_refine_config *c, struct ogq_json *j)
{
    ogq_json_begin_object(j);
    ogq_json_key(j, "n_epochs");
    ogq_json_int(j, c->n_epochs);
    ogq_json_key(j, "n_steps");
    ogq_json_int(j, c->n_steps);
    write_adam(j, "optimizer", &c->optimizer, true);
    write_adam(j, "optimizer_rest", &c->optimizer_rest, true);
    write_adam(j, "optimizer_bias", &c->optimizer_bias, c->has_optimizer_bias);
    write_adam(j, "optimizer_quantization_parameter", &c->optimizer_quantization_parameter,
               c->has_optimizer_quantization_parameter);
    ogq_json_key(j, "train_bias");
    ogq_json_bool(j, c->train_bias);
    ogq_json_key(j, "regularization_factor");
    ogq_json_double(j, c->regularization_factor);
    ogq_json_key(j, "rounding_type");
    ogq_json_string(j, ogq_rounding_type_name(c->rounding_type));
    ogq_json_key(j, "use_hessian_based_weights");
    ogq_json_bool(j, c->use_hessian_based_weights);
    /* Always written: use_hessian_based_weights carries the on/off switch, as in MCT. */
    const struct ogq_hessian_weights_config *h = &c->hessian_weights_config;
    ogq_json_key(j, "hessian_weights_config");
    ogq_json_begin_object(j);
    ogq_json_key(j, "per_sample");
    ogq_json_bool(j, h->per_sample);
    write_count_or_null(j, "hessians_num_samples", h->hessians_num_samples, 1);
    ogq_json_key(j, "norm_scores");
    ogq_json_bool(j, h->norm_scores);
    ogq_json_key(j, "log_norm");
    ogq_json_bool(j, h->log_norm);
    ogq_json_key(j, "scale_log_norm");
    ogq_json_bool(j, h->scale_log_norm);
    ogq_json_key(j, "hessian_batch_size");
    ogq_json_int(j, h->hessian_batch_size);
    ogq_json_key(j, "num_probes");
    ogq_json_int(j, h->num_probes);
    ogq_json_end_object(j);
    const struct ogq_gaq_config *g = &c->gradual_activation_quantization_config;
    ogq_json_key(j, "gradual_activation_quantization_config");
    if (!g->enabled) {
        ogq_json_null(j);
    } else {
        ogq_json_begin_object(j);
        ogq_json_key(j, "q_fraction_scheduler_policy");
        ogq_json_begin_object(j);
        ogq_json_key(j, "initial_q_fraction");
        ogq_json_double(j, g->initial_q_fraction);
        ogq_json_key(j, "target_q_fraction");
        ogq_json_double(j, g->target_q_fraction);
        ogq_json_key(j, "start_step");
        ogq_json_int(j, g->start_step);
        write_count_or_null(j, "end_step", g->end_step, 0);
        ogq_json_end_object(j);
        ogq_json_end_object(j);
    }
    ogq_json_key(j, "gptq_quantizer_params_override");
    ogq_json_begin_object(j);
    ogq_json_key(j, "quantization_parameter_learning");
    ogq_json_bool(j, c->quantization_parameter_learning);
    ogq_json_end_object(j);
    ogq_json_key(j, "seed");
    /* Setter and validate keep seed <= INT64_MAX, so the int64 writer is exact. */
    ogq_json_int(j, (int64_t)c->seed);
    ogq_json_end_object(j);
}

const char *ogq_rounding_type_name(enum ogq_rounding_type t)
{
    return t == OGQ_ROUNDING_STE ? "STE" : "SoftQuantizer";
}

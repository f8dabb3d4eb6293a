/* json_parse.c — recursive-descent JSON parser (RFC 8259), strict, with positions.
 *
 * Invariant that keeps cleanup simple: every ogq_jvalue reachable from the root is
 * free-able at every moment of the parse (pointers valid or NULL, n counts the items that
 * exist), so on any error the caller's single ogq_jvalue_free of the root releases
 * everything, including a half-built container.
 *
 * Recursion depth is bounded by OGQ_JSON_PARSE_MAX_DEPTH for parsing and freeing alike.
 * Numbers are converted with strtod, which assumes the C locale's '.' decimal point (the
 * library never calls setlocale); a mismatch is reported, never silently misread.
 */
#include "json_parse.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"
#include "util/strmap.h"

/* Objects with more keys than this check duplicates through a hash map, not a scan,
 * so a hostile object with 100k keys stays O(n). */
#define DUP_SCAN_MAX 16

struct parser {
    const unsigned char *s;
    size_t len, pos;
    int line, col;
    struct ogq_error *err;
    char *buf; /* scratch for decoding strings */
    size_t buf_len, buf_cap;
};

static bool at_end(const struct parser *p)
{
    return p->pos >= p->len;
}

static int peek(const struct parser *p)
{
    return at_end(p) ? -1 : p->s[p->pos];
}

/* Consumes one byte, keeping line/column (columns count UTF-8 lead bytes only). */
static void bump(struct parser *p)
{
    unsigned char c = p->s[p->pos++];
    if (c == '\n') {
        if (p->line < INT_MAX)
            p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80 && p->col < INT_MAX) {
        p->col++;
    }
}

static void skip_ws(struct parser *p)
{
    while (!at_end(p)) {
        int c = peek(p);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        bump(p);
    }
}

static enum ogq_status fail_at(struct parser *p, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static enum ogq_status fail_at(struct parser *p, int line, int col, const char *fmt, ...)
{
    char what[OGQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ogq_error_set(p->err, OGQ_ERR_FORMAT, "line %d, column %d: %s", line, col, what);
}

/* Describes the byte at the cursor for messages: 'x', byte 0xNN or end of input. */
static const char *describe_here(const struct parser *p, char *buf, size_t size)
{
    int c = peek(p);
    if (c < 0)
        snprintf(buf, size, "end of input");
    else if (c > 0x20 && c < 0x7F)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", (unsigned)c);
    return buf;
}

static enum ogq_status fail_unexpected(struct parser *p, const char *expected)
{
    char here[32];
    return fail_at(p, p->line, p->col, "expected %s, found %s", expected,
                   describe_here(p, here, sizeof here));
}

/* ---- freeing ---- */

static void value_fini(struct ogq_jvalue *v)
{
    free(v->num_text);
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items)
            value_fini(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

void ogq_jvalue_free(struct ogq_jvalue *root)
{
    if (!root)
        return;
    value_fini(root);
    free(root);
}

/* ---- strings ---- */

static bool buf_push(struct parser *p, const char *bytes, size_t n)
{
    if (p->buf_cap - p->buf_len < n + 1) {
        size_t cap = p->buf_cap ? p->buf_cap : 64;
        while (cap - p->buf_len < n + 1)
            if (!ogq_mul_size(cap, 2, &cap))
                return false;
        char *nb = realloc(p->buf, cap);
        if (!nb)
            return false;
        p->buf = nb;
        p->buf_cap = cap;
    }
    memcpy(p->buf + p->buf_len, bytes, n);
    p->buf_len += n;
    return true;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" (cursor on the first digit). */
static enum ogq_status read_hex4(struct parser *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(peek(p));
        if (d < 0)
            return fail_unexpected(p, "4 hex digits after \\u");
        v = v * 16 + (unsigned)d;
        bump(p);
    }
    *out = v;
    return OGQ_OK;
}

static size_t utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one escape (cursor just after the backslash) into the scratch buffer. */
static enum ogq_status read_escape(struct parser *p, int esc_line, int esc_col)
{
    int c = peek(p);
    char simple = 0;
    switch (c) {
    case '"':
        simple = '"';
        break;
    case '\\':
        simple = '\\';
        break;
    case '/':
        simple = '/';
        break;
    case 'b':
        simple = '\b';
        break;
    case 'f':
        simple = '\f';
        break;
    case 'n':
        simple = '\n';
        break;
    case 'r':
        simple = '\r';
        break;
    case 't':
        simple = '\t';
        break;
    case 'u':
        break;
    default: {
        char here[32];
        return fail_at(p, esc_line, esc_col, "invalid escape: backslash followed by %s",
                       describe_here(p, here, sizeof here));
    }
    }
    bump(p);
    if (simple)
        return buf_push(p, &simple, 1) ? OGQ_OK : OGQ_NOMEM(p->err);
    unsigned cp;
    OGQ_TRY(read_hex4(p, &cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail_at(p, esc_line, esc_col, "unpaired low surrogate \\u%04X", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* UTF-16 pair: the high half must be followed at once by "\u" and a low half. */
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail_at(p, esc_line, esc_col,
                           "unpaired high surrogate \\u%04X (expected a \\uDC00-\\uDFFF next)", cp);
        bump(p);
        bump(p);
        unsigned lo;
        OGQ_TRY(read_hex4(p, &lo));
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(p, esc_line, esc_col,
                           "high surrogate \\u%04X followed by \\u%04X, not a low surrogate", cp,
                           lo);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    char enc[4];
    size_t n = utf8_encode(cp, enc);
    return buf_push(p, enc, n) ? OGQ_OK : OGQ_NOMEM(p->err);
}

/* Length of the well-formed UTF-8 sequence at the cursor (Unicode table 3-7), or 0. */
static size_t utf8_valid_len(const struct parser *p)
{
    const unsigned char *s = p->s + p->pos;
    size_t avail = p->len - p->pos;
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* Parses a string literal (cursor on the opening quote). On OGQ_OK, *out is a new
 * NUL-terminated copy of the decoded bytes and *out_len its length. */
static enum ogq_status parse_string(struct parser *p, char **out, size_t *out_len)
{
    int line = p->line, col = p->col;
    bump(p); /* opening quote */
    p->buf_len = 0;
    for (;;) {
        if (at_end(p))
            return fail_at(p, p->line, p->col,
                           "unterminated string (it starts at line %d, column %d)", line, col);
        unsigned c = p->s[p->pos];
        if (c == '"') {
            bump(p);
            break;
        }
        if (c == '\\') {
            int el = p->line, ec = p->col;
            bump(p);
            OGQ_TRY(read_escape(p, el, ec));
        } else if (c < 0x20) {
            return fail_at(p, p->line, p->col,
                           "raw control character 0x%02x in a string (write it as an escape)", c);
        } else if (c < 0x80) {
            if (!buf_push(p, (const char *)p->s + p->pos, 1))
                return OGQ_NOMEM(p->err);
            bump(p);
        } else {
            size_t n = utf8_valid_len(p);
            if (n == 0)
                return fail_at(p, p->line, p->col, "invalid UTF-8 byte 0x%02x in a string", c);
            if (!buf_push(p, (const char *)p->s + p->pos, n))
                return OGQ_NOMEM(p->err);
            for (size_t i = 0; i < n; i++)
                bump(p);
        }
    }
    char *s = malloc(p->buf_len + 1);
    if (!s)
        return OGQ_NOMEM(p->err);
    if (p->buf_len)
        memcpy(s, p->buf, p->buf_len);
    s[p->buf_len] = '\0';
    *out = s;
    *out_len = p->buf_len;
    return OGQ_OK;
}

/* ---- numbers ---- */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static enum ogq_status parse_number(struct parser *p, struct ogq_jvalue *v)
{
    size_t start = p->pos;
    if (peek(p) == '-')
        bump(p);
    if (peek(p) == '0') {
        bump(p);
        if (is_digit(peek(p)))
            return fail_at(p, v->line, v->col, "leading zeros are not allowed in numbers");
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p)))
            bump(p);
    } else {
        return fail_unexpected(p, "a digit");
    }
    if (peek(p) == '.') {
        bump(p);
        if (!is_digit(peek(p)))
            return fail_unexpected(p, "a digit after the decimal point");
        while (is_digit(peek(p)))
            bump(p);
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        bump(p);
        if (peek(p) == '+' || peek(p) == '-')
            bump(p);
        if (!is_digit(peek(p)))
            return fail_unexpected(p, "a digit in the exponent");
        while (is_digit(peek(p)))
            bump(p);
    }
    size_t n = p->pos - start;
    v->num_text = malloc(n + 1);
    if (!v->num_text)
        return OGQ_NOMEM(p->err);
    memcpy(v->num_text, p->s + start, n);
    v->num_text[n] = '\0';
    char *end;
    v->num = strtod(v->num_text, &end); /* ERANGE is fine: ±HUGE_VAL or a denormal/0 */
    if (*end != '\0')
        return fail_at(p, v->line, v->col, "cannot convert number '%s' (non-C locale?)",
                       v->num_text);
    v->type = OGQ_JNUMBER;
    return OGQ_OK;
}

/* ---- containers ---- */

static enum ogq_status parse_value(struct parser *p, struct ogq_jvalue *v, int depth);

/* Makes room for one more item (and key) in v; *cap is the current capacity. */
static bool grow_items(struct ogq_jvalue *v, size_t *cap, bool with_keys)
{
    if (v->n < *cap)
        return true;
    size_t ncap = *cap ? *cap : 4, bytes;
    if (!ogq_mul_size(ncap, 2, &ncap) || !ogq_mul_size(ncap, sizeof *v->items, &bytes))
        return false;
    struct ogq_jvalue *items = realloc(v->items, bytes);
    if (!items)
        return false;
    v->items = items;
    if (with_keys) {
        char **keys = realloc(v->keys, ncap * sizeof *keys);
        if (!keys)
            return false;
        v->keys = keys;
    }
    *cap = ncap;
    return true;
}

static enum ogq_status parse_array(struct parser *p, struct ogq_jvalue *v, int depth)
{
    v->type = OGQ_JARRAY;
    bump(p); /* [ */
    skip_ws(p);
    if (peek(p) == ']') {
        bump(p);
        return OGQ_OK;
    }
    size_t cap = 0;
    for (;;) {
        if (!grow_items(v, &cap, false))
            return OGQ_NOMEM(p->err);
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        OGQ_TRY(parse_value(p, &v->items[v->n - 1], depth));
        skip_ws(p);
        if (peek(p) == ']') {
            bump(p);
            return OGQ_OK;
        }
        if (peek(p) != ',')
            return fail_unexpected(p, "',' or ']' in an array");
        bump(p);
        skip_ws(p);
        if (peek(p) == ']')
            return fail_at(p, p->line, p->col, "trailing comma before ']'");
    }
}

/* Checks key v->keys[v->n - 1] against the earlier keys of the object. */
static enum ogq_status check_duplicate(struct parser *p, struct ogq_jvalue *v,
                                       struct ogq_strmap *seen, int line, int col)
{
    const char *key = v->keys[v->n - 1];
    bool dup = false;
    if (v->n <= DUP_SCAN_MAX) {
        for (size_t i = 0; i + 1 < v->n && !dup; i++)
            dup = strcmp(v->keys[i], key) == 0;
    } else {
        if (seen->live == 0) /* switching from scans to the map: enter the earlier keys */
            for (size_t i = 0; i + 1 < v->n; i++)
                if (!ogq_strmap_put(seen, v->keys[i], v))
                    return OGQ_NOMEM(p->err);
        dup = ogq_strmap_get(seen, key) != NULL;
        if (!dup && !ogq_strmap_put(seen, key, v))
            return OGQ_NOMEM(p->err);
    }
    if (dup)
        return fail_at(p, line, col, "duplicate key \"%.80s\"", key);
    return OGQ_OK;
}

static enum ogq_status parse_object_members(struct parser *p, struct ogq_jvalue *v, int depth,
                                            struct ogq_strmap *seen)
{
    size_t cap = 0;
    for (;;) {
        if (peek(p) != '"')
            return fail_unexpected(p, "a string key in an object");
        int kl = p->line, kc = p->col;
        char *key;
        size_t key_len;
        OGQ_TRY(parse_string(p, &key, &key_len));
        if (strlen(key) != key_len) {
            free(key);
            return fail_at(p, kl, kc, "object key contains U+0000");
        }
        if (!grow_items(v, &cap, true)) {
            free(key);
            return OGQ_NOMEM(p->err);
        }
        v->keys[v->n] = key;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        OGQ_TRY(check_duplicate(p, v, seen, kl, kc));
        skip_ws(p);
        if (peek(p) != ':')
            return fail_unexpected(p, "':' after an object key");
        bump(p);
        OGQ_TRY(parse_value(p, &v->items[v->n - 1], depth));
        skip_ws(p);
        if (peek(p) == '}') {
            bump(p);
            return OGQ_OK;
        }
        if (peek(p) != ',')
            return fail_unexpected(p, "',' or '}' in an object");
        bump(p);
        skip_ws(p);
        if (peek(p) == '}')
            return fail_at(p, p->line, p->col, "trailing comma before '}'");
    }
}

static enum ogq_status parse_object(struct parser *p, struct ogq_jvalue *v, int depth)
{
    v->type = OGQ_JOBJECT;
    bump(p); /* { */
    skip_ws(p);
    if (peek(p) == '}') {
        bump(p);
        return OGQ_OK;
    }
    struct ogq_strmap seen;
    ogq_strmap_init(&seen);
    enum ogq_status st = parse_object_members(p, v, depth, &seen);
    ogq_strmap_fini(&seen);
    return st;
}

static enum ogq_status parse_literal(struct parser *p, struct ogq_jvalue *v, const char *word,
                                     enum ogq_jtype type, bool b)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail_at(p, v->line, v->col, "invalid literal (did you mean '%s'?)", word);
    for (size_t i = 0; i < n; i++)
        bump(p);
    v->type = type;
    v->b = b;
    return OGQ_OK;
}

/* depth: containers already open around this value. */
static enum ogq_status parse_value(struct parser *p, struct ogq_jvalue *v, int depth)
{
    skip_ws(p);
    v->line = p->line;
    v->col = p->col;
    int c = peek(p);
    switch (c) {
    case '{':
    case '[':
        if (depth >= OGQ_JSON_PARSE_MAX_DEPTH)
            return fail_at(p, p->line, p->col,
                           "nesting deeper than %d arrays/objects is not allowed",
                           OGQ_JSON_PARSE_MAX_DEPTH);
        return c == '{' ? parse_object(p, v, depth + 1) : parse_array(p, v, depth + 1);
    case '"': {
        char *s;
        size_t n;
        OGQ_TRY(parse_string(p, &s, &n));
        v->type = OGQ_JSTRING;
        v->str = s;
        v->str_len = n;
        return OGQ_OK;
    }
    case 't':
        return parse_literal(p, v, "true", OGQ_JBOOL, true);
    case 'f':
        return parse_literal(p, v, "false", OGQ_JBOOL, false);
    case 'n':
        return parse_literal(p, v, "null", OGQ_JNULL, false);
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p, v);
        return fail_unexpected(p, "a value");
    }
}

enum ogq_status ogq_json_parse(const char *text, size_t len, struct ogq_jvalue **out,
                               struct ogq_error *err)
{
    *out = NULL;
    struct parser p = {
        .s = (const unsigned char *)text, .len = len, .line = 1, .col = 1, .err = err};
    struct ogq_jvalue *root = calloc(1, sizeof *root);
    if (!root)
        return OGQ_NOMEM(err);
    enum ogq_status st = parse_value(&p, root, 0);
    if (st == OGQ_OK) {
        skip_ws(&p);
        if (!at_end(&p)) {
            char here[32];
            st = fail_at(&p, p.line, p.col, "unexpected %s after the end of the JSON value",
                         describe_here(&p, here, sizeof here));
        }
    }
    free(p.buf);
    if (st != OGQ_OK) {
        ogq_jvalue_free(root);
        return st;
    }
    *out = root;
    return OGQ_OK;
}

const struct ogq_jvalue *ogq_jobject_get(const struct ogq_jvalue *obj, const char *key)
{
    if (!obj || obj->type != OGQ_JOBJECT)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const char *ogq_jtype_name(enum ogq_jtype t)
{
    switch (t) {
    case OGQ_JNULL:
        return "null";
    case OGQ_JBOOL:
        return "a boolean";
    case OGQ_JNUMBER:
        return "a number";
    case OGQ_JSTRING:
        return "a string";
    case OGQ_JARRAY:
        return "an array";
    case OGQ_JOBJECT:
        return "an object";
    }
    return "an unknown value";
}

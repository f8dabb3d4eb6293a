#include "json.h"

#include <inttypes.h>
#include <math.h>

void ogq_json_init(struct ogq_json *j, FILE *out, bool pretty)
{
    j->out = out;
    j->depth = 0;
    j->need_comma[0] = false;
    j->after_key = false;
    j->pretty = pretty;
}

static void newline_indent(struct ogq_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

/* Called before every value or key: emits the separating comma and indentation. */
static void before_item(struct ogq_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth])
        fputc(',', j->out);
    if (j->depth > 0)
        newline_indent(j);
    j->need_comma[j->depth] = true;
}

static void open_nest(struct ogq_json *j, char c)
{
    before_item(j);
    fputc(c, j->out);
    if (j->depth + 1 < OGQ_JSON_MAX_DEPTH)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_nest(struct ogq_json *j, char c)
{
    bool had_items = j->need_comma[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (had_items)
        newline_indent(j);
    fputc(c, j->out); /* the caller adds any final newline */
}

void ogq_json_begin_object(struct ogq_json *j) { open_nest(j, '{'); }
void ogq_json_end_object(struct ogq_json *j) { close_nest(j, '}'); }
void ogq_json_begin_array(struct ogq_json *j) { open_nest(j, '['); }
void ogq_json_end_array(struct ogq_json *j) { close_nest(j, ']'); }

void ogq_json_write_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void ogq_json_key(struct ogq_json *j, const char *key)
{
    before_item(j);
    ogq_json_write_escaped(j->out, key);
    fputs(j->pretty ? ": " : ":", j->out);
    j->after_key = true;
}

void ogq_json_string(struct ogq_json *j, const char *s)
{
    before_item(j);
    ogq_json_write_escaped(j->out, s ? s : "");
}

void ogq_json_int(struct ogq_json *j, int64_t v)
{
    before_item(j);
    fprintf(j->out, "%" PRId64, v);
}

void ogq_json_double(struct ogq_json *j, double v)
{
    before_item(j);
    if (!isfinite(v))
        fputs("null", j->out);
    else
        fprintf(j->out, "%.9g", v);
}

void ogq_json_bool(struct ogq_json *j, bool v)
{
    before_item(j);
    fputs(v ? "true" : "false", j->out);
}

void ogq_json_null(struct ogq_json *j)
{
    before_item(j);
    fputs("null", j->out);
}

#include "wire_depth.h"

#include <stdbool.h>
#include <stdlib.h>

/* The message-typed fields of onnx.proto that can lead back to a recursive message. */
static enum ogq_wire_kind child_kind(enum ogq_wire_kind parent, uint64_t field)
{
    switch (parent) {
    case OGQ_WIRE_MODEL:
        return field == 7 ? OGQ_WIRE_GRAPH
               : field == 20 ? OGQ_WIRE_TRAINING_INFO
               : field == 25 ? OGQ_WIRE_FUNCTION
                             : OGQ_WIRE_LEAF;
    case OGQ_WIRE_GRAPH:
        return field == 1 ? OGQ_WIRE_NODE
               : (field == 11 || field == 12 || field == 13) ? OGQ_WIRE_VALUE_INFO
                                                             : OGQ_WIRE_LEAF;
    case OGQ_WIRE_NODE:
        return field == 5 ? OGQ_WIRE_ATTRIBUTE : OGQ_WIRE_LEAF;
    case OGQ_WIRE_ATTRIBUTE:
        return (field == 6 || field == 11) ? OGQ_WIRE_GRAPH
               : (field == 14 || field == 15) ? OGQ_WIRE_TYPE
                                              : OGQ_WIRE_LEAF;
    case OGQ_WIRE_VALUE_INFO:
        return field == 2 ? OGQ_WIRE_TYPE : OGQ_WIRE_LEAF;
    case OGQ_WIRE_TYPE:
        return (field == 4 || field == 9) ? OGQ_WIRE_TYPE_SEQUENCE
               : field == 5 ? OGQ_WIRE_TYPE_MAP
                            : OGQ_WIRE_LEAF;
    case OGQ_WIRE_TYPE_SEQUENCE:
        return field == 1 ? OGQ_WIRE_TYPE : OGQ_WIRE_LEAF;
    case OGQ_WIRE_TYPE_MAP:
        return field == 2 ? OGQ_WIRE_TYPE : OGQ_WIRE_LEAF;
    case OGQ_WIRE_TRAINING_INFO:
        return (field == 1 || field == 2) ? OGQ_WIRE_GRAPH : OGQ_WIRE_LEAF;
    case OGQ_WIRE_FUNCTION:
        return field == 7 ? OGQ_WIRE_NODE : OGQ_WIRE_LEAF;
    default:
        return OGQ_WIRE_LEAF;
    }
}

static bool read_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

struct frame {
    size_t end;
    enum ogq_wire_kind kind;
};

enum ogq_status ogq_wire_check_depth(const uint8_t *data, size_t size, enum ogq_wire_kind root,
                                     int max_depth, struct ogq_error *err)
{
    if (max_depth < 1)
        max_depth = 1;
    struct frame *stack = malloc((size_t)(max_depth + 1) * sizeof *stack);
    if (!stack)
        return OGQ_NOMEM(err);
    int depth = 0;
    stack[0].end = size;
    stack[0].kind = root;
    size_t pos = 0;
    enum ogq_status st = OGQ_OK;
    for (;;) {
        while (depth > 0 && pos >= stack[depth].end) {
            pos = stack[depth].end;
            depth--;
        }
        if (pos >= stack[depth].end)
            break;
        uint64_t tag, len;
        if (!read_varint(data, stack[depth].end, &pos, &tag))
            break; /* malformed: protobuf-c reports it */
        size_t skip = 0;
        switch (tag & 7) {
        case 0:
            if (!read_varint(data, stack[depth].end, &pos, &len))
                goto done;
            continue;
        case 1: skip = 8; break;
        case 5: skip = 4; break;
        case 2:
            if (!read_varint(data, stack[depth].end, &pos, &len) || len > stack[depth].end - pos)
                goto done;
            enum ogq_wire_kind child = child_kind(stack[depth].kind, tag >> 3);
            if (child != OGQ_WIRE_LEAF && len > 0) {
                if (depth + 1 > max_depth) {
                    st = ogq_error_set(err, OGQ_ERR_FORMAT,
                                       "messages nest deeper than %d levels", max_depth);
                    goto done;
                }
                depth++;
                stack[depth].end = pos + (size_t)len;
                stack[depth].kind = child;
                continue;
            }
            skip = (size_t)len;
            break;
        default:
            goto done; /* groups or invalid wire types: leave to protobuf-c */
        }
        if (skip > stack[depth].end - pos)
            goto done;
        pos += skip;
    }
done:
    free(stack);
    return st;
}

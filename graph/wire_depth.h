/* wire_depth.h — bound the nesting depth of an ONNX protobuf before protobuf-c sees it.
 *
 * protobuf-c unpacks nested messages recursively, so a hostile file of nested subgraphs
 * (Attribute.g → Graph.node → Node.attribute → ...) or TypeProtos could exhaust the
 * stack. This scanner walks the wire format iteratively, following only the fields of
 * onnx.proto that nest messages, and fails if they nest deeper than a limit. Anything
 * malformed is left for protobuf-c to reject.
 */
#ifndef OGQ_WIRE_DEPTH_H
#define OGQ_WIRE_DEPTH_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

enum ogq_wire_kind {
    OGQ_WIRE_LEAF = 0,
    OGQ_WIRE_MODEL,
    OGQ_WIRE_GRAPH,
    OGQ_WIRE_NODE,
    OGQ_WIRE_ATTRIBUTE,
    OGQ_WIRE_VALUE_INFO,
    OGQ_WIRE_TYPE,
    OGQ_WIRE_TYPE_SEQUENCE, /* also Optional: elem_type = 1 */
    OGQ_WIRE_TYPE_MAP,
    OGQ_WIRE_TRAINING_INFO,
    OGQ_WIRE_FUNCTION,
    OGQ_WIRE_TENSOR,
    OGQ_WIRE_KIND_COUNT_
};

/* OGQ_ERR_FORMAT if messages nest deeper than `max_depth`; OGQ_OK otherwise. */
enum ogq_status ogq_wire_check_depth(const uint8_t *data, size_t size, enum ogq_wire_kind root,
                                     int max_depth, struct ogq_error *err);

#endif

/* refine_config.h — configuration of gradient-based refinement, with the concepts, names
 * and defaults of Sony MCT's GradientPTQConfig (see README "Refinement configuration").
 *
 * Every setting has a dotted name that mirrors MCT's nesting, e.g.
 *   n_epochs, optimizer.lr, optimizer_rest.lr, train_bias, regularization_factor,
 *   rounding_type, hessian_weights_config.log_norm,
 *   gradual_activation_quantization_config.q_fraction_scheduler_policy.start_step
 * The same names are used by the JSON config file (nested objects), by the CLI
 * (`--refine-set NAME=VALUE`) and by the effective configuration written to reports and
 * to the model's metadata. One setter validates every value, whatever its source.
 */
#ifndef OGQ_REFINE_CONFIG_H
#define OGQ_REFINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/json.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ogq_rounding_type { OGQ_ROUNDING_SOFT = 0, OGQ_ROUNDING_STE };

/* Adam (Kingma & Ba). JSON: {"type": "Adam", "lr": .., "beta_1": .., "beta_2": .., "eps": ..}.
 * "type" is optional and only "Adam" is accepted. */
struct ogq_adam_config {
    double lr;
    double beta_1; /* default 0.9 */
    double beta_2; /* default 0.999 */
    double eps;    /* default 1e-8 */
};

struct ogq_hessian_weights_config {
    bool per_sample;              /* false: one weight per layer; true: per sample and layer */
    int64_t hessians_num_samples; /* default 32; <= 0 (JSON null): every sample */
    bool norm_scores;             /* default true */
    bool log_norm;                /* default true */
    bool scale_log_norm;          /* default false */
    int64_t hessian_batch_size;   /* default 32 (accepted for compatibility; we use the
                                     calibration batches) */
    int64_t num_probes;           /* ours: random directions per sample, default 2 */
};

struct ogq_gaq_config {
    bool enabled;              /* JSON null disables; default enabled (0 → 1 over all steps) */
    double initial_q_fraction; /* default 0 */
    double target_q_fraction;  /* default 1 */
    int64_t start_step;        /* default 0 */
    int64_t end_step;          /* default -1 (JSON null): the last step */
};

struct ogq_refine_config {
    int64_t n_epochs;   /* default 20: passes over the calibration batches (MCT: required) */
    int64_t n_steps;    /* ours: explicit gradient steps per layer; 0: n_epochs × batches */
    struct ogq_adam_config optimizer;      /* rounding variables; default lr 3e-2 */
    struct ogq_adam_config optimizer_rest; /* bias and quantization parameters; lr 1e-4 */
    bool has_optimizer_bias;               /* JSON null (default): use optimizer_rest */
    struct ogq_adam_config optimizer_bias;
    bool has_optimizer_quantization_parameter; /* JSON null (default): optimizer_rest */
    struct ogq_adam_config optimizer_quantization_parameter;
    bool train_bias;                /* default true */
    double regularization_factor;   /* default 0.01 */
    enum ogq_rounding_type rounding_type; /* default SoftQuantizer */
    bool use_hessian_based_weights; /* default true */
    struct ogq_hessian_weights_config hessian_weights_config;
    struct ogq_gaq_config gradual_activation_quantization_config;
    /* gptq_quantizer_params_override.quantization_parameter_learning: also learn the
     * weight scales (default false, as in MCT). */
    bool quantization_parameter_learning;
    uint64_t seed; /* ours: random probes of the Hessian scores; default 0 */
};

/* MCT's defaults (listed above). */
void ogq_refine_config_init(struct ogq_refine_config *c);

/* Sets one value by dotted name. `value` is text as on the command line or JSON scalar
 * text: numbers, true/false, null, "SoftQuantizer"/"STE" (also soft/ste). Fails with
 * OGQ_ERR_USAGE and a one-line message naming the setting for an unknown name, a value of
 * the wrong type or out of range. */
enum ogq_status ogq_refine_config_set(struct ogq_refine_config *c, const char *name,
                                      const char *value, struct ogq_error *err);

/* "NAME=VALUE" form of the above (for --refine-set). */
enum ogq_status ogq_refine_config_set_pair(struct ogq_refine_config *c, const char *pair,
                                           struct ogq_error *err);

/* Applies every setting of a JSON file (nested objects with the names above; an object
 * value may be null where the name allows it). Errors name the file, and the line and
 * setting where possible. */
enum ogq_status ogq_refine_config_load_json(struct ogq_refine_config *c, const char *path,
                                            struct ogq_error *err);

/* Cross-field checks (e.g. 0 <= initial_q_fraction < target_q_fraction <= 1,
 * end_step > start_step, per_sample with every sample). Run once all settings are in. */
enum ogq_status ogq_refine_config_validate(const struct ogq_refine_config *c,
                                           struct ogq_error *err);

/* Writes the effective configuration as one JSON object (nested, MCT names). */
void ogq_refine_config_write_json(const struct ogq_refine_config *c, struct ogq_json *j);

const char *ogq_rounding_type_name(enum ogq_rounding_type t); /* "SoftQuantizer" / "STE" */

#ifdef __cplusplus
}
#endif

#endif

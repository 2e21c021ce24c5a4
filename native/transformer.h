/*
 * The native transformer kernels: GELU, erf and tanh forms, forward and backward
 * (transformer.c); LayerNorm forward and backward on float32 data with float64 row statistics,
 * and the softmax / log-softmax backward (layernorm.c). Declared apart from
 * qat.h; called by binding-transformer.c.
 */
#ifndef QAT_TRANSFORMER_H
#define QAT_TRANSFORMER_H

#include "qat.h"

/* y[i] = gelu(x[i]) for i < n; tanh_form 1 = the tanh approximation. */
void qat_gelu(const float *x, float *y, long n, int tanh_form);
/* dx[i] = g[i]·gelu'(x[i]). */
void qat_gelu_bwd(const float *g, const float *x, float *dx, long n, int tanh_form);
/* LayerNorm of x viewed as [rows, n]; w, b nullable; writes mean[r] and rstd[r]. */
void qat_layernorm(const float *x, const float *w, const float *b, float *y, double *mean, double *rstd, long rows, long n,
                   double eps);
/* Its gradients from the saved mean / rstd; dx, dw, db nullable (overwritten). */
void qat_layernorm_bwd(const float *g, const float *x, const float *w, const double *mean, const double *rstd, float *dx,
                       float *dw, float *db, long rows, long n);

/* Softmax (log 0) or log-softmax (log 1) backward over rows of n, from the output y and the gradient g. */
void qat_softmax_bwd(const float *y, const float *g, float *dx, long rows, long n, int log);

#endif

/*
 * The fused batch-norm and ReLU kernels of the native backend (norm.c, elementwise.c), beside
 * the plain ones that qat.h declares, and the global average pool (nn.c). Included by norm.c,
 * elementwise.c, nn.c and binding-norm.c.
 */
#ifndef QAT_NORM_H
#define QAT_NORM_H

#include "qat.h"

/*
 * Training-mode batch norm forward over x viewed as [n, c, hw]: per channel the statistics of
 * qat_bn_stats (mean, var), inv_std = 1/√(var + eps), then qat_bn_apply's y, followed by relu
 * (y > 0 ? y : 0) when relu ≠ 0. mean, var, inv_std: c doubles each (written).
 */
void qat_bn_train(const float *x, int n, int c, int hw, double eps, const float *gamma, const float *beta, float *y, double *mean,
                  double *var, double *inv_std, int relu);
/* qat_bn_backward of relu(apply(x)): dy·(y > 0 ? 1 : 0) with y = apply's fl32((x − mean)·inv_std·γ + β), recomputed. */
void qat_bn_relu_backward(const float *dy, const float *x, const double *mean, const double *inv_std, const float *gamma,
                          const float *beta, float *dx, float *dgamma, float *dbeta, int n, int c, int hw, int training);
/* Adaptive average pool to 1×1 over [planes, hw] (nn.c): y[p] = fl32(Σ x, in order, in float64 / hw); backward dx = fl32(dy / hw). */
void qat_global_avg_pool(const float *x, float *y, long planes, long hw);
void qat_global_avg_pool_bwd(const float *dy, float *dx, long planes, long hw);
/* out[i] = relu(a[i] + b[i]) in float32: the add's rounding, then relu's expression (elementwise.c) */
void qat_add_relu_f32(const float *a, const float *b, float *out, long n);

#endif

/** Every layer, re-exported (one file per family). */
export { Linear, Identity, type LinearOptions } from "./linear.js";
export { Conv2d, type Conv2dOptions } from "./conv.js";
export { BatchNormBase, BatchNorm1d, BatchNorm2d, type BatchNormOptions } from "./batchnorm.js";
export { ReLU, ReLU6, Hardtanh, Sigmoid, Tanh, GELU, Softmax } from "./activation.js";
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from "./pooling.js";
export { Flatten } from "./shape.js";
export { Dropout } from "./dropout.js";
export { Add, Concat } from "./merge.js";
export { Sequential, type NamedModules } from "./container.js";
export { Embedding, type EmbeddingOptions } from "./embedding.js";
export { LayerNorm, type LayerNormOptions } from "./normalization.js";
export { MultiheadAttention, type MultiheadAttentionOptions, type AttentionCallOptions } from "./attention.js";
export {
  ModuleList, TransformerEncoderLayer, TransformerEncoder,
  type TransformerActivation, type TransformerEncoderLayerOptions, type TransformerEncoderOptions, type EncoderCallOptions,
} from "./transformer.js";
export { LSTM, GRU, type RnnOptions } from "./rnn.js";

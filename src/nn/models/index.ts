/** The model zoo (nn.models): small networks for 1×28×28 inputs (Fashion-MNIST) by default. */
export { mlp, type MlpOptions } from "./mlp.js";
export { SmallCNN, smallCnn, type SmallCnnOptions } from "./small-cnn.js";
export { BasicBlock, ResNet, resnet20, type ResNetOptions } from "./resnet.js";
export { InvertedResidual, MobileNetV2, mobilenetV2Small, makeDivisible, convBnRelu6, MOBILENET_V2_SMALL_SETTINGS, type MobileNetV2Options } from "./mobilenet.js";
export { VisionTransformer, vitTiny, CharTransformer, charTransformer, type VitOptions, type CharTransformerOptions } from "./vit.js";
export { ZOO, buildModel, type ModelSpec } from "./registry.js";

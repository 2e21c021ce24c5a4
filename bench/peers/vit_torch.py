"""The zoo's transformer models (src/nn/models/vit.ts) in PyTorch 1.13, with the same
state-dict keys, so weights move between the two through safetensors:
  ViT:             patch_embed (Conv2d k=s=patch), cls_token [1,1,D], pos_embedding [1,P+1,D],
                   encoder (TransformerEncoder of pre-norm GELU batch_first layers: encoder.layers.<i>.…),
                   norm (LayerNorm), head (Linear on the class token)
  CharTransformer: tok_embedding (Embedding), pos_embedding [1,T,D], encoder (causal), norm, head
Used by scripts/golden/transformer_layers.py (ONNX import fixtures) and the transformer
experiments/benchmarks."""
import torch
import torch.nn as nn


def _encoder(dim, heads, mlp_dim, depth, dropout):
    layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=mlp_dim, dropout=dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class ViT(nn.Module):
    def __init__(self, image_size=28, patch_size=7, in_channels=1, dim=64, depth=4, heads=4, mlp_dim=128,
                 num_classes=10, dropout=0.0):
        super().__init__()
        self.num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, self.num_patches + 1, dim) * 0.02)
        self.encoder = _encoder(dim, heads, mlp_dim, depth, dropout)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        x = self.norm(self.encoder(x))
        return self.head(x[:, 0])


class CharTransformer(nn.Module):
    def __init__(self, vocab, context, dim=64, depth=2, heads=4, mlp_dim=None, dropout=0.0):
        super().__init__()
        self.tok_embedding = nn.Embedding(vocab, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, context, dim) * 0.02)
        self.encoder = _encoder(dim, heads, mlp_dim or 4 * dim, depth, dropout)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        x = self.tok_embedding(idx) + self.pos_embedding[:, :t]
        return self.head(self.norm(self.encoder(x, mask=mask)))

"""A small image model for the Arm suite: convolutions (oneDNN / Arm Compute Library
conv kernels), then a Linear over a 3-D tensor of pixel tokens, which ONNX exports as a
MatMul node (ONNX Runtime's arm64 bf16 fast math changes MatMul nodes only), and a head.
Input: 3x32x32 images."""
import torch
from torch import nn


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        )
        # No bias: MatMul+Add would be fused into a Gemm by ONNX Runtime's optimiser, and
        # the arm64 bf16 fast math applies to MatMul kernels only.
        self.mix = nn.Linear(64, 256, bias=False)
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)                      # B, 64, 16, 16
        tokens = y.flatten(2).transpose(1, 2)     # B, 256, 64
        tokens = torch.relu(self.mix(tokens))     # MatMul in ONNX
        return self.head(tokens.mean(dim=1))


def build_model() -> nn.Module:
    torch.manual_seed(0)
    return SmallNet().eval()

// The pins of `setup` (torch and the optional packages, by machine) and the defaults read
// from them; scripts/arm-emulation.sh reads SETUP_PINS from this file for its image's key.

/**
 * What `setup` installs, by machine. x86_64: torch 2.13.0. aarch64: torch 2.9.1, because
 * PyPI's later aarch64 wheels (2.13.0 among them) are CUDA builds that pull ~3 GB of NVIDIA
 * libraries onto a CPU server, while 2.9.1's is the CPU build with the Arm Compute Library
 * (723 MB in a venv); torchao 0.15 is the release that pairs with it. torchvision follows
 * torch (pip picks the build that pins the installed torch). Change a pin here and the
 * emulated Arm image (scripts/arm-emulation.sh) rebuilds.
 */
export const SETUP_PINS = {
	x64: {torch: 'torch==2.13.0', extras: ['onnx', 'onnxscript', 'onnxruntime', 'openvino', 'nncf', 'transformers', 'torchao']},
	arm64: {torch: 'torch==2.9.1', extras: ['onnx', 'onnxscript', 'onnxruntime', 'openvino', 'nncf', 'transformers', 'torchao==0.15.0']},
};

function pinsFor(arch: string): (typeof SETUP_PINS)['x64'] {
	return arch === 'arm64' ? SETUP_PINS.arm64 : SETUP_PINS.x64;
}

/** torch's pin for this machine (or the one named). */
export function defaultTorchSpec(arch: string = process.arch): string {
	return pinsFor(arch).torch;
}

/** The optional packages for this machine (or the one named), each installed on its own. */
export function defaultExtras(arch: string = process.arch): string[] {
	return pinsFor(arch).extras;
}

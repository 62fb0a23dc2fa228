// Which CPU this is, from /proc/cpuinfo's first processor: its architecture and ISA flags,
// then on Arm the vendor and core by MIDR and the product by the tables (cpu-tables.ts),
// on x86 the vendor and the model name, and the SVE vector width.
import {archFromCpuinfo, processArch, sharedFeatures} from './cpuinfo.js';
import type {Processor} from './cpuinfo.js';
import {armPlatform, CORE_SVE_BITS, CORES, IMPLEMENTERS} from './cpu-tables.js';
import type {Cloud, Dmi} from './dmi.js';
import {firstLine} from './root-files.js';
import type {Reader} from './root-files.js';
import type {CpuInfo, IsaFlags} from '../types.js';

export async function identifyCpu(reader: Reader, processors: Processor[], dmi: Dmi, cloud: Cloud): Promise<CpuInfo> {
	const first = processors[0]!;
	const arch = resolveArch(reader, first);
	const features = sharedFeatures(processors);
	const bogomips = Number.parseFloat(first.get('bogomips') ?? '');
	const base = {
		arch,
		modelName: first.get('model name') ?? null,
		logicalCpus: processors.length,
		features,
		isa: isaFlags(arch, new Set(features)),
		bogomips: Number.isFinite(bogomips) ? bogomips : null,
	};
	if (arch === 'aarch64') return {...base, ...(await identifyArm(reader, processors, dmi, cloud, base.isa, base.bogomips))};
	if (arch === 'x86_64') return {...base, ...identifyX86(first), ...noMidr()};
	reader.notes.push(`unknown CPU architecture in ${reader.show('proc/cpuinfo')}: nothing to tune for it`);
	return {...base, vendor: null, core: null, platform: null, platformGuess: null, sveVectorBits: null, ...noMidr()};
}

function resolveArch(reader: Reader, first: Processor): string {
	const fromCpuinfo = archFromCpuinfo(first);
	if (!reader.live) return fromCpuinfo ?? 'unknown';
	const own = processArch();
	// Node under emulation (x64 Node on an arm64 kernel) would tune the wrong binaries: say so.
	if (fromCpuinfo && fromCpuinfo !== own) {
		reader.notes.push(`the kernel reports ${fromCpuinfo} but this Node.js runs as ${own} (emulation?): Python and torch should be native ${fromCpuinfo}`);
	}
	return fromCpuinfo ?? own;
}

function isaFlags(arch: string, f: Set<string>): IsaFlags {
	const arm = arch === 'aarch64';
	const x86 = arch === 'x86_64';
	return {
		bf16: arm && f.has('bf16'),
		i8mm: arm && f.has('i8mm'),
		sve: arm && f.has('sve'),
		sve2: arm && f.has('sve2'),
		avx512: x86 && f.has('avx512f'),
		avx512bf16: x86 && f.has('avx512_bf16'),
		vnni: x86 && (f.has('avx512_vnni') || f.has('avx_vnni')),
		amx: x86 && f.has('amx_tile') && (f.has('amx_bf16') || f.has('amx_int8')),
	};
}

function noMidr() {
	return {implementer: null, part: null, variant: null, revision: null};
}

function identifyX86(first: Processor): Pick<CpuInfo, 'vendor' | 'core' | 'platform' | 'platformGuess' | 'sveVectorBits'> {
	const vendorId = first.get('vendor_id') ?? null;
	const vendor = vendorId === null ? null : ({GenuineIntel: 'Intel', AuthenticAMD: 'AMD', HygonGenuine: 'Hygon'} as Record<string, string>)[vendorId] ?? vendorId;
	const model = first.get('model name');
	return {vendor, core: null, platform: model ? cleanModelName(model) : null, platformGuess: null, sveVectorBits: null};
}

/** "Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz" → "Intel Xeon Platinum 8488C"; "AMD EPYC 9R14 96-Core Processor" → "AMD EPYC 9R14". */
function cleanModelName(model: string): string {
	return model
		.replace(/\((R|TM|tm|r)\)/g, '')
		.replace(/\s+CPU\s+@.*$/, '')
		.replace(/\s+@\s+[\d.]+\s*GHz$/i, '')
		// The core count is the socket's, not this machine's vCPUs: it misleads next to "4 vCPU".
		.replace(/\s+\d+-Core Processor$/, '')
		.replace(/\s+Processor$/, '')
		.replace(/\s+/g, ' ')
		.trim();
}

async function identifyArm(
	reader: Reader,
	processors: Processor[],
	dmi: Dmi,
	cloud: Cloud,
	isa: IsaFlags,
	bogomips: number | null,
): Promise<Omit<CpuInfo, 'arch' | 'modelName' | 'logicalCpus' | 'features' | 'isa' | 'bogomips'>> {
	const first = processors[0]!;
	const midr = {
		implementer: normHex(first.get('cpu implementer'), 2),
		part: normHex(first.get('cpu part'), 3),
		variant: normHex(first.get('cpu variant'), 1),
		revision: first.get('cpu revision') ?? null,
	};
	noteMixedCores(reader, processors);
	const vendor = midr.implementer ? IMPLEMENTERS[Number.parseInt(midr.implementer, 16)] ?? null : null;
	const core = midr.implementer && midr.part ? CORES[`${midr.implementer}:${midr.part}`] ?? null : null;
	if (core === null) {
		reader.notes.push(
			`unknown Arm CPU (implementer ${midr.implementer ?? '?'}${vendor ? ` ${vendor}` : ''}, part ${midr.part ?? '?'}): recipes are chosen from its feature flags only`,
		);
	}
	const {platform, guess} = core ? armPlatform(core, {dmi, cloud, bogomips, revision: midr.revision}) : {platform: null, guess: null};
	if (core && platform === null) reader.notes.push(`${core} in an unknown product: recipes are chosen from its feature flags`);
	return {vendor, core, platform, platformGuess: guess, sveVectorBits: await sveBits(reader, isa, core), ...midr};
}

/** "0x41" / "0XD40" / "0x1" → "0x41" / "0xd40" / "0x001", the kernel's own widths; null when absent or not hex. */
function normHex(value: string | undefined, digits: number): string | null {
	if (value === undefined) return null;
	const n = Number.parseInt(value, 16);
	return Number.isNaN(n) ? null : `0x${n.toString(16).padStart(digits, '0')}`;
}

function noteMixedCores(reader: Reader, processors: Processor[]): void {
	const kinds = new Set(processors.map(p => `${normHex(p.get('cpu implementer'), 2)}:${normHex(p.get('cpu part'), 3)}`));
	if (kinds.size > 1) reader.notes.push(`processors of different kinds (${[...kinds].join(', ')}): identified by the first one`);
}

async function sveBits(reader: Reader, isa: IsaFlags, core: string | null): Promise<number | null> {
	if (!isa.sve) return null;
	const line = await firstLine(reader, 'proc/sys/abi/sve_default_vector_length', 'SVE vector length');
	const bytes = line === null ? Number.NaN : Number.parseInt(line, 10);
	if (Number.isFinite(bytes) && bytes > 0) return bytes * 8;
	return core ? CORE_SVE_BITS[core] ?? null : null;
}

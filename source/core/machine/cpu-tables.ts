// The tables that name a CPU: Arm implementer and core codes (MIDR), the SVE width a core's
// design fixes, and which product (platform) a known core is in: settled by DMI when there
// is one, else a heuristic that says so (facts and heuristics from /work/shared/facts/cpu.md).
import type {Cloud, Dmi} from './dmi.js';

/** Arm implementer codes (MIDR bits 31:24), from the Linux cputype.h and util-linux lscpu-arm.c. */
export const IMPLEMENTERS: Record<number, string> = {
	0x41: 'Arm',
	0x4e: 'NVIDIA',
	0x61: 'Apple',
	0x6d: 'Microsoft',
	0xc0: 'Ampere',
	0x48: 'HiSilicon',
	0x51: 'Qualcomm',
	0x46: 'Fujitsu',
};

/** Cores we know, keyed "implementer:part" in lowercase hex. */
export const CORES: Record<string, string> = {
	'0x41:0xd08': 'Cortex-A72',
	'0x41:0xd0c': 'Neoverse-N1',
	'0x41:0xd40': 'Neoverse-V1',
	'0x41:0xd49': 'Neoverse-N2',
	'0x6d:0xd49': 'Neoverse-N2',
	'0x41:0xd4f': 'Neoverse-V2',
	'0x41:0xd84': 'Neoverse-V3',
	'0x41:0xd8e': 'Neoverse-N3',
	'0xc0:0xac3': 'AmpereOne',
	'0xc0:0xac4': 'AmpereOne-1a',
};

/** SVE width fixed by the core's design, for when the kernel does not say (older kernels, containers). */
export const CORE_SVE_BITS: Record<string, number> = {'Neoverse-V1': 256, 'Neoverse-V2': 128, 'Neoverse-N2': 128};

type Platform = {platform: string | null; guess: string | null};

export interface PlatformClues {
	dmi: Dmi;
	cloud: Cloud;
	bogomips: number | null;
	revision: string | null;
}

/** Which product a known core is in. DMI settles it when present; otherwise a heuristic, said as such. */
export function armPlatform(core: string, c: PlatformClues): Platform {
	const aws = c.cloud.provider === 'aws';
	const dmiSeen = Object.values(c.dmi).some(v => v !== null);
	switch (core) {
		case 'Cortex-A72':
			return {platform: aws ? 'AWS Graviton' : null, guess: null};
		case 'Neoverse-N1':
			return n1Platform(aws, dmiSeen, c);
		case 'Neoverse-V1':
			if (aws) return {platform: graviton3Name(c.cloud.instanceType), guess: null};
			return dmiSeen
				? {platform: null, guess: null}
				: {platform: 'AWS Graviton3', guess: 'no DMI to read; Graviton3 is the Neoverse-V1 machine one meets in practice'};
		case 'Neoverse-V2':
			return v2Platform(aws, dmiSeen, c);
		case 'Neoverse-V3':
			return {platform: aws ? 'AWS Graviton5' : null, guess: null};
		case 'Neoverse-N2':
			return {platform: c.cloud.provider === 'azure' ? 'Azure Cobalt 100' : null, guess: null};
		case 'AmpereOne':
		case 'AmpereOne-1a':
			return {platform: 'AmpereOne', guess: null};
		default:
			return {platform: null, guess: null};
	}
}

/** Graviton3E (c7gn, hpc7g) shares Graviton3's MIDR: only the instance family tells. */
function graviton3Name(instanceType: string | null): string {
	return /^(c7gn|hpc7g)\./.test(instanceType ?? '') ? 'AWS Graviton3E' : 'AWS Graviton3';
}

/** Graviton2 and Ampere Altra share MIDR 0x413fd0c1. */
function n1Platform(aws: boolean, dmiSeen: boolean, c: PlatformClues): Platform {
	if (aws) return {platform: 'AWS Graviton2', guess: null};
	const altraTimer = c.bogomips === 50;
	if (dmiSeen) {
		// AWS always fills DMI, so a non-Amazon DMI rules Graviton2 out; Altra is the N1 part sold elsewhere.
		if (altraTimer) return {platform: 'Ampere Altra', guess: null};
		const guess = `DMI is not Amazon EC2 (sys_vendor ${quoted(c.dmi.sysVendor)}), so not Graviton2; Ampere Altra is the usual other Neoverse-N1, but BogoMIPS ${c.bogomips ?? '?'} is not its usual 50.00`;
		return {platform: 'Ampere Altra', guess};
	}
	if (c.bogomips === 243.75) return {platform: 'AWS Graviton2', guess: 'no DMI to read; BogoMIPS 243.75 matches Graviton2 (Ampere Altra shows 50.00)'};
	if (altraTimer) return {platform: 'Ampere Altra', guess: 'no DMI to read; BogoMIPS 50.00 matches Ampere Altra (Graviton2 shows 243.75)'};
	return {platform: null, guess: null};
}

/** Graviton4, NVIDIA Grace and Google Axion are all Neoverse-V2 (0x41/0xd4f). */
function v2Platform(aws: boolean, dmiSeen: boolean, c: PlatformClues): Platform {
	if (aws) return {platform: 'AWS Graviton4', guess: null};
	if (c.cloud.provider === 'gcp') return {platform: 'Google Axion', guess: null};
	if (/nvidia/i.test(c.dmi.sysVendor ?? '')) return {platform: 'NVIDIA Grace', guess: null};
	if (dmiSeen) {
		const guess = `DMI is not Amazon EC2 (sys_vendor ${quoted(c.dmi.sysVendor)}), so not Graviton4; Grace is the usual Neoverse-V2 server outside the clouds`;
		return {platform: 'NVIDIA Grace', guess};
	}
	// Weak: from a handful of dumps (Graviton4 revision 1, Grace revision 0).
	if (c.revision === '1') return {platform: 'AWS Graviton4', guess: 'no DMI to read; CPU revision 1 matches Graviton4 dumps (Grace shows 0), a weak clue'};
	if (c.revision === '0') return {platform: 'NVIDIA Grace', guess: 'no DMI to read; CPU revision 0 matches Grace dumps (Graviton4 shows 1), a weak clue'};
	return {platform: null, guess: null};
}

function quoted(value: string | null): string {
	return value === null ? 'empty' : JSON.stringify(value);
}

// The machine's DMI identity (vendor, product, asset tags under /sys) and the cloud it
// names, told offline: no metadata service is asked.
import {firstLine} from './root-files.js';
import type {Reader} from './root-files.js';
import type {Detection} from '../types.js';

export type Dmi = {sysVendor: string | null; productName: string | null; chassisAssetTag: string | null; boardAssetTag: string | null};
export type Cloud = Detection['cloud'];

export async function readDmi(reader: Reader): Promise<Dmi> {
	const field = (name: string) => firstLine(reader, `sys/devices/virtual/dmi/id/${name}`, `DMI ${name}`);
	return {
		sysVendor: await field('sys_vendor'),
		productName: await field('product_name'),
		chassisAssetTag: await field('chassis_asset_tag'),
		boardAssetTag: await field('board_asset_tag'),
	};
}

/** Offline cloud detection, the way cloud-init's ds-identify and systemd's virt.c do it. */
export function cloudFromDmi(dmi: Dmi): Cloud {
	if (dmi.sysVendor === 'Amazon EC2') return {provider: 'aws', instanceType: dmi.productName};
	if (dmi.productName === 'Google Compute Engine' || dmi.sysVendor === 'Google Compute Engine') return {provider: 'gcp', instanceType: null};
	if (dmi.chassisAssetTag === '7783-7084-3265-9085-8269-3286-77') return {provider: 'azure', instanceType: null};
	if (dmi.chassisAssetTag === 'OracleCloud.com') return {provider: 'oci', instanceType: null};
	return {provider: null, instanceType: null};
}

/** Types for build.mjs (plain JavaScript so `npm start` needs no build step to build). */
import type { BuildOptions } from "esbuild";

export declare const ROOT: string;
export declare const OUT_DIR: string;
export declare const SDK_DIR: string;

export interface BuildContext {
	root: string;
	outDir: string;
	log: (line: string) => void;
}

export interface BuildStep {
	name: string;
	description: string;
	run: (ctx: BuildContext) => Promise<void>;
}

export declare const STEPS: BuildStep[];
export declare function sdkBundleOptions(): BuildOptions;
export declare function serviceWorkerBundleOptions(): BuildOptions;
export declare function bundleText(options: BuildOptions): Promise<string>;
export declare function gzipSize(text: string): number;
export declare function build(options?: { only?: string[]; log?: (line: string) => void }): Promise<void>;
export declare function setup(): Promise<void>;

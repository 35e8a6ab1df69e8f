// CivitAI's own account of a model (declared base model, trigger words, scan results, hashes, usage
// restrictions), reported beside our detection; and the check that the declared base model agrees with
// the family the tensors show.
import type {CivitaiFile, CivitaiModel, CivitaiVersion} from './client.js';

export interface CivitaiReportInfo {
  modelId: number;
  modelName?: string;
  versionId: number;
  versionName: string;
  type?: string;
  baseModel?: string;
  /** Our family name for the declared base model, when we know it. */
  declaredFamily?: string;
  trainedWords: string[];
  nsfw?: boolean;
  file: {
    id: number;
    name: string;
    sizeKB: number;
    format?: string | null;
    fp?: string | null;
    size?: string | null;
    pickleScanResult?: string;
    pickleScanMessage?: string | null;
    virusScanResult?: string;
    scannedAt?: string | null;
    hashes: Record<string, string>;
  };
  usage: {allowCommercialUse?: string | string[]; allowDerivatives?: boolean; allowNoCredit?: boolean; allowDifferentLicense?: boolean};
  warnings: string[];
}

const BASE_MODEL_FAMILIES: Array<[RegExp, string]> = [
  [/^SD 1\.[45]/i, 'sd1'],
  [/^SD 2\.[01]/i, 'sd2'],
  [/^SDXL.*Refiner/i, 'sdxl-refiner'],
  [/^(SDXL|Pony|Illustrious|NoobAI)/i, 'sdxl'],
  [/^SD 3/i, 'sd3'],
  [/^Flux\.?2/i, 'flux2'],
  [/^Flux\.?1/i, 'flux'],
  [/^Stable Cascade/i, 'cascade'],
  [/^PixArt/i, 'pixart'],
  [/^Kolors/i, 'kolors'],
  [/^AuraFlow/i, 'auraflow'],
  [/^Hunyuan Video/i, 'hunyuanvideo'],
  [/^Hunyuan 1/i, 'hunyuandit'],
  [/^CogVideoX/i, 'cogvideox'],
  [/^LTXV/i, 'ltxv'],
  [/^Wan Video/i, 'wan'],
  [/^Lumina/i, 'lumina2'],
  [/^Chroma/i, 'chroma'],
  [/^Qwen/i, 'qwen-image'],
  [/^Sana/i, 'sana'],
];

/** CivitAI baseModel string ("SDXL 1.0", "Pony", "Flux.1 D") -> our family, or undefined when unknown. */
export function familyOfBaseModel(baseModel: string | undefined): string | undefined {
  if (!baseModel) return undefined;
  return BASE_MODEL_FAMILIES.find(([re]) => re.test(baseModel.trim()))?.[1];
}

/**
 * A warning when CivitAI's declared base model disagrees with the family detection found; undefined when
 * they agree or either side is unknown. The lead adds it to the report's warnings.
 */
export function compareBaseModel(declared: string | undefined, detectedFamily: string | undefined): string | undefined {
  const fam = familyOfBaseModel(declared);
  if (!fam || !detectedFamily || detectedFamily === 'unknown') return undefined;
  if (fam === detectedFamily) return undefined;
  // An SDXL refiner is declared as SDXL on CivitAI more often than not.
  if (fam === 'sdxl' && detectedFamily === 'sdxl-refiner') return undefined;
  return `CivitAI declares base model '${declared}' (${fam}) but the tensors say ${detectedFamily}`;
}

export function civitaiReportInfo(model: CivitaiModel | undefined, version: CivitaiVersion, file: CivitaiFile): CivitaiReportInfo {
  const warnings: string[] = [];
  if (file.pickleScanResult && file.pickleScanResult !== 'Success') warnings.push(`CivitAI pickle scan: ${file.pickleScanResult}${file.pickleScanMessage ? ` (${file.pickleScanMessage})` : ''}`);
  if (file.virusScanResult && file.virusScanResult !== 'Success') warnings.push(`CivitAI virus scan: ${file.virusScanResult}`);
  const declaredFamily = familyOfBaseModel(version.baseModel);
  return {
    modelId: version.modelId,
    ...(model?.name ?? version.model?.name ? {modelName: model?.name ?? version.model?.name} : {}),
    versionId: version.id,
    versionName: version.name,
    ...(model?.type ?? version.model?.type ? {type: model?.type ?? version.model?.type} : {}),
    ...(version.baseModel ? {baseModel: version.baseModel} : {}),
    ...(declaredFamily ? {declaredFamily} : {}),
    trainedWords: version.trainedWords ?? [],
    ...(model?.nsfw !== undefined ? {nsfw: model.nsfw} : {}),
    file: {
      id: file.id, name: file.name, sizeKB: file.sizeKB, format: file.metadata?.format, fp: file.metadata?.fp, size: file.metadata?.size,
      pickleScanResult: file.pickleScanResult, pickleScanMessage: file.pickleScanMessage, virusScanResult: file.virusScanResult,
      scannedAt: file.scannedAt, hashes: file.hashes ?? {},
    },
    usage: {
      allowCommercialUse: model?.allowCommercialUse, allowDerivatives: model?.allowDerivatives,
      allowNoCredit: model?.allowNoCredit, allowDifferentLicense: model?.allowDifferentLicense,
    },
    warnings,
  };
}

export function sha256Of(file: CivitaiFile): string | undefined {
  const h = file.hashes?.SHA256 ?? file.hashes?.sha256;
  return h && /^[0-9a-fA-F]{64}$/.test(h) ? h.toLowerCase() : undefined;
}

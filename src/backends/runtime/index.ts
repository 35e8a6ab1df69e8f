export {installRuntime, plannedRuntime, filterRequirements, verifyImports, type InstallOptions, type InstallResult} from './install.js';
export {ensureRuntime, findRuntime, type RuntimeLocation} from './resolve.js';
export {resolveProfile, hasWorkingNvidiaSmi, type Profile} from './profile.js';
export {venvHash, packageSourcesHash} from './hash.js';
export {readValidStamp, listStamps, venvDirFor, runtimeRoot, STAMP_FILE, type RuntimeStamp} from './stamp.js';
export {runDoctor, type DoctorReport} from './doctor.js';

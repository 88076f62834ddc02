/**
 * Where scenarios come from: the validation context built from the machines and the kernel
 * variants, built-ins by id or name, and files.
 */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { vcpuMachine } from '../../machines/vcpu.machine.js';
import { vhostVsockMachine } from '../../machines/vhost-vsock.machine.js';
import { PRESETS, SWITCH_NAMES } from '../kernel/variants.js';
import { BUILTIN_SCENARIOS, findBuiltin } from '../scenarios/builtin.js';
import { parseScenarioText, validateScenario, type ValidationContext, type ValidationResult } from '../scenarios/validate.js';
import { knownState, stateTable } from './state-table.js';

const TABLE = stateTable(physicalCpuMachine);
const PATHS = [...TABLE.keys()].filter((p) => p !== '');
const VCPU_TABLE = stateTable(vcpuMachine);
const VSOCK_TABLE = stateTable(vhostVsockMachine);

export const validationContext: ValidationContext = {
  presets: PRESETS.map((p) => p.name),
  switches: [...SWITCH_NAMES],
  isKnownState: (name) => knownState(TABLE, name),
  isKnownVcpuState: (name) => knownState(VCPU_TABLE, name),
  isKnownVsockState: (name) => knownState(VSOCK_TABLE, name),
  stateHint: (name) => {
    const last = name.split('|')[0]?.split('.').pop() ?? name;
    const lower = last.toLowerCase();
    const hits = PATHS.filter((p) => (p.split('.').pop() ?? '').toLowerCase().includes(lower));
    return [...new Set(hits.map((p) => p.split('.').slice(-2).join('.')))].slice(0, 3);
  },
};

export function loadBuiltin(name: string): ValidationResult | null {
  const b = findBuiltin(name);
  return b ? validateScenario(b.raw, b.id, validationContext) : null;
}

export function loadScenarioText(text: string, source: string): ValidationResult {
  return parseScenarioText(text, source, validationContext);
}

export { BUILTIN_SCENARIOS };

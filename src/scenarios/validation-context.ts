/** What the scenario validator (validate.ts) reports, and what it needs to know about the rest of the simulator. */
export interface ScenarioError {
  /** Where in the file: 'machine.cpus', 'script[1].when.cpu', 'initial.cpus.7.vmx'; '' for the whole file. */
  path: string;
  message: string;
}

/** What the validator needs to know about the rest of the simulator. */
export interface ValidationContext {
  /** Kernel presets, e.g. ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline']. */
  presets: readonly string[];
  /** Kernel fix names (kebab-case). */
  switches: readonly string[];
  /** Whether a trigger state name is a dot-separated suffix of a physical CPU state path. */
  isKnownState(name: string): boolean;
  /** Close matches for an unknown state name, to suggest in the message. */
  stateHint?: (name: string) => string[];
  /** Whether a trigger state name is a dot-separated suffix of a vCPU state path. */
  isKnownVcpuState?(name: string): boolean;
  isKnownVsockState?(name: string): boolean;
}

/**
 * Kernel variants: every modelled upstream change is a named switch (SEMANTICS §0.2). A preset is a
 * set of switches; a scenario picks a preset and turns single switches on or off. The machines read
 * the resulting `KernelFeatures` through guards, so the same chart runs every era.
 */

export interface KernelSwitch {
  /** Stable kebab-case name used on the command line and in scenario files. */
  readonly name: SwitchName;
  /** What the kernel does differently with the switch on. */
  readonly summary: string;
  /** The upstream patch subject (and commit, where known). */
  readonly upstream: string;
  /** The era tag of SEMANTICS §0.2. */
  readonly era: string;
}

export const SWITCH_NAMES = [
  'vmxoff-eats-faults',
  'shootdown-if-vmx-supported',
  'register-nmi-handler-refuses-double',
  'shootdown-only-once',
  'core-nmi-handler-disables-virt',
  'emergency-disables-svm',
  'stop-disables-svm',
  'stop-cpus-mask',
  'virt-disable-via-kvm-callback',
  'emergency-callback-sets-kvm-rebooting',
  'skip-vmclear-if-vmxe-clear',
  'emergency-nmi-handler-slot',
] as const;

export type SwitchName = (typeof SWITCH_NAMES)[number];

export const SWITCHES: readonly KernelSwitch[] = [
  {
    name: 'vmxoff-eats-faults',
    summary: 'cpu_vmxoff() has an exception fixup: a #UD on VMXOFF is ignored and CR4.VMXE is cleared anyway',
    upstream: 'x86/virt: Eat faults on VMXOFF in reboot flows (aec511ad1535)',
    era: 'E1 v5.12, backported to 5.11.y',
  },
  {
    name: 'shootdown-if-vmx-supported',
    summary: 'emergency restart shoots down the other CPUs whenever CPUID has VMX, not only when this CPU has CR4.VMXE=1',
    upstream: 'x86/reboot: Force all cpus to exit VMX root if VMX is supported (ed72736183c4)',
    era: 'E1 v5.12, backported to 5.10.y and 5.11.y',
  },
  {
    name: 'register-nmi-handler-refuses-double',
    summary: 'registering an nmiaction already on a list WARNs and fails, so a second nmi_shootdown_cpus() returns without sending NMIs',
    upstream: 'x86/nmi: Make register_nmi_handler() more robust (a7fed5c0431d)',
    era: 'E1b v5.19',
  },
  {
    name: 'shootdown-only-once',
    summary: 'nmi_shootdown_cpus() WARNs and returns if crash_ipi_issued is set; the restart path skips its shootdown after an earlier one',
    upstream: 'x86/crash: Disable virt in core NMI crash handler to avoid double shootdown (26044aff37a5)',
    era: 'E2 v6.3',
  },
  {
    name: 'core-nmi-handler-disables-virt',
    summary: 'crash_nmi_callback() disables virtualization itself after the callback; the emergency-restart callback becomes NULL',
    upstream: 'x86/crash: Disable virt in core NMI crash handler to avoid double shootdown (26044aff37a5)',
    era: 'E2 v6.3',
  },
  {
    name: 'emergency-disables-svm',
    summary: 'emergency restart and the crash handler also disable SVM: STGI first (GIF=1), then clear EFER.SVME',
    upstream:
      'x86/reboot: Disable virtualization in an emergency if SVM is supported (d81f952aa657); x86/virt: Force GIF=1 prior to disabling SVM (for reboot flows) (6a3236580b0b)',
    era: 'E2 v6.3',
  },
  {
    name: 'stop-disables-svm',
    summary: 'the REBOOT_VECTOR and stop-NMI handlers disable SVM as well as VMX before stop_this_cpu()',
    upstream: 'x86/reboot: Disable SVM, not just VMX, when stopping CPUs (a2b07fa7b933)',
    era: 'E2 v6.3',
  },
  {
    name: 'stop-cpus-mask',
    summary: 'native_stop_other_cpus() tracks cpus_stop_mask and sends the NMI fallback only to CPUs still in it',
    upstream: 'x86/smp: Make stop_other_cpus() more robust (1f5e7eb7868e)',
    era: 'E2b v6.5',
  },
  {
    name: 'virt-disable-via-kvm-callback',
    summary: 'virtualization is disabled only through the callback KVM registers (VMCLEAR, then VMXOFF / SVM off); no callback means no shootdown on emergency restart',
    upstream: 'x86/reboot: Disable virtualization during reboot iff callback is registered (59765db5fc82)',
    era: 'E3 v6.6',
  },
  {
    name: 'emergency-callback-sets-kvm-rebooting',
    summary: 'the emergency virt-disable callback sets kvm_rebooting=true first, so KVM ignores faults on VMX/SVM instructions from then on',
    upstream: 'KVM: x86: Force kvm_rebooting=true during emergency reboot/crash (6ae44e012f4c)',
    era: 'E3 v6.6',
  },
  {
    name: 'skip-vmclear-if-vmxe-clear',
    summary: 'the VMX emergency callback returns at once when CR4.VMXE=0 (no VMCLEAR walk, no VMXOFF)',
    upstream: 'KVM: VMX: Skip VMCLEAR logic during emergency reboots if CR4.VMXE=0 (a788fbb763b5)',
    era: 'E3 v6.6',
  },
  {
    name: 'emergency-nmi-handler-slot',
    summary: 'the crash NMI handler goes into an exclusive emergency slot, so a second registration overwrites instead of corrupting a list',
    upstream: 'x86/nmi: Add an emergency handler in nmi_desc & use it in nmi_shootdown_cpus() (fe37c699ae3e)',
    era: 'E5 v6.15',
  },
];

const E1: SwitchName[] = ['vmxoff-eats-faults', 'shootdown-if-vmx-supported'];
const E2: SwitchName[] = [
  ...E1,
  'register-nmi-handler-refuses-double',
  'shootdown-only-once',
  'core-nmi-handler-disables-virt',
  'emergency-disables-svm',
  'stop-disables-svm',
];
const E3: SwitchName[] = [
  ...E2,
  'stop-cpus-mask',
  'virt-disable-via-kvm-callback',
  'emergency-callback-sets-kvm-rebooting',
  'skip-vmclear-if-vmxe-clear',
];

export interface KernelPreset {
  readonly name: string;
  readonly summary: string;
  readonly switches: readonly SwitchName[];
}

export const PRESETS: readonly KernelPreset[] = [
  { name: 'v5.10', summary: 'E0: before the December 2020 reboot fixes', switches: [] },
  { name: 'v5.11', summary: 'E1: VMXOFF eats faults; shootdown whenever VMX is supported (upstream v5.12, in 5.11.y)', switches: E1 },
  { name: 'v6.2', summary: 'E1b + E2: double shootdown fixed, SVM disabled in emergencies (upstream v6.3)', switches: E2 },
  { name: 'v6.6', summary: 'E2b + E3: stop mask, virt disable through the KVM callback', switches: E3 },
  { name: 'mainline', summary: 'every modelled fix', switches: [...SWITCH_NAMES] },
];

export const DEFAULT_PRESET = 'mainline';

/** The switch set a scenario runs with: a name maps to true when the fix is applied. */
export type KernelFeatures = Readonly<Record<SwitchName, boolean>>;

export function isSwitchName(name: string): name is SwitchName {
  return (SWITCH_NAMES as readonly string[]).includes(name);
}

export function findPreset(name: string): KernelPreset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** Resolve a preset plus explicit switches; unknown names are the validator's job and throw here. */
export function resolveFeatures(preset: string, fix: readonly string[], noFix: readonly string[]): KernelFeatures {
  const base = findPreset(preset);
  if (!base) throw new Error(`unknown kernel preset '${preset}'`);
  const on = new Set<string>(base.switches);
  for (const name of fix) on.add(name);
  for (const name of noFix) on.delete(name);
  const features = {} as Record<SwitchName, boolean>;
  for (const name of SWITCH_NAMES) features[name] = on.has(name);
  for (const name of [...fix, ...noFix]) if (!isSwitchName(name)) throw new Error(`unknown kernel switch '${name}'`);
  return features;
}

/**
 * Turning virtualization off (docs/model.md §2.2): the VMCLEAR walk of loaded_vmcss_on_cpu, VMXOFF and
 * the CR4.VMXE write, the SVM disable with its STGI, and KVM's emergency callbacks. Era differences
 * are routed with eventless transitions (they are compile-time differences, not instructions);
 * every instruction and every runtime `if` of the kernel is one step.
 */
import { and, not } from 'xstate';
import type { Region } from './types.js';
import type { VirtBlocks, VirtDisableSite } from '../../src/kernel/virt-disable.js';
import { call, decide, done, feature, guard, op, route, type CpuState } from './setup.js';

const block = (site: VirtDisableSite, name: keyof VirtBlocks) => guard('block runs', { site, block: name });

/** Where a BUG or an unfixed-up fault in region r goes: die() in that context. */
export const dieTarget = (r: Region): string => `#cpu.os.${r}.die`;

/**
 * A walk of loaded_vmcss_on_cpu doing VMCLEAR on each entry. KVM's vmcs_clear() goes through its
 * fault fixup: a #UD calls kvm_spurious_fault(), which BUGs unless kvm_rebooting is set (arch/x86/kvm/x86.c); from
 * E6 `BUG_ON(!virt_rebooting)`, the same flag under its core x86 name.
 * `unlink`: the orderly __loaded_vmcs_clear() also deletes the entry; the emergency walk only reads.
 */
export function vmclearWalk(r: Region, unlink: boolean): CpuState {
  const faults = guard('VMCLEAR faults', { r });
  return {
    initial: 'next',
    entry: [{ type: 'reset VMCLEAR walk', params: { r } }],
    states: {
      next: decide(r, [{ if: { type: 'VMCLEAR walk has next', params: { r } }, to: 'vmclear' }, { to: 'done' }], 'list_for_each_entry(v, loaded_vmcss_on_cpu)'),
      vmclear: decide(
        r,
        [
          {
            if: and([faults, 'kvm_rebooting set']),
            to: 'next',
            do: [
              { type: 'fault', params: { insn: 'VMCLEAR', fault: '#UD', handling: 'eaten' } },
              { type: 'skip faulting VMCLEAR', params: { r } },
            ],
          },
          {
            if: faults,
            to: dieTarget(r),
            do: [
              { type: 'fault', params: { insn: 'VMCLEAR', fault: '#UD', handling: 'bug' } },
              { type: 'print', params: { text: 'kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)' } },
            ],
          },
          { to: 'next', do: { type: 'VMCLEAR', params: { r, unlink } } },
        ],
        'vmcs_clear(v->vmcs)',
      ),
      done,
    },
  };
}

/**
 * Who handles a VMXOFF fault. 'kernel': cpu_vmxoff() — E0 has no fixup (a #UD is an oops), from E1 the
 * fault is eaten. 'eaten': the emergency callbacks' fault-eating VMXOFF. 'kvm': KVM's orderly disable —
 * v5.10 `__ex("vmxoff")`, then `if (cpu_vmxoff()) kvm_spurious_fault();`, E6 `BUG_ON(… && !virt_rebooting)`
 * — ignored while kvm_rebooting is set, else BUG. CR4.VMXE is cleared after an ignored fault either way.
 */
type VmxoffFaults = 'kernel' | 'eaten' | 'kvm';

function vmxoffStates(r: Region, prefix: string, next: string, faults: VmxoffFaults): Record<string, CpuState> {
  const eats =
    faults === 'eaten'
      ? 'VMXOFF faults'
      : faults === 'kvm'
        ? and(['VMXOFF faults', 'kvm_rebooting set'])
        : and(['VMXOFF faults', feature('vmxoff-eats-faults')]);
  const unhandled =
    faults === 'kvm'
      ? [
          { type: 'fault', params: { insn: 'VMXOFF', fault: '#UD', handling: 'bug' } } as const,
          { type: 'print', params: { text: 'kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)' } } as const,
        ]
      : { type: 'fault', params: { insn: 'VMXOFF', fault: '#UD', handling: 'oops' } } as const;
  return {
    [`${prefix}Vmxoff`]: {
      initial: 'vmxoff',
      description: faults === 'kernel' ? 'cpu_vmxoff()' : 'kvm_cpu_vmxoff()',
      states: {
        vmxoff: decide(
          r,
          [
            {
              if: eats,
              to: 'clearVmxe',
              do: { type: 'fault', params: { insn: 'VMXOFF', fault: '#UD', handling: 'eaten' } },
            },
            { if: 'VMXOFF faults', to: dieTarget(r), do: unhandled },
            { to: 'clearVmxe', do: 'VMXOFF' },
          ],
          'VMXOFF',
        ),
        // VMXOFF has executed; CR4.VMXE is still set: the window of race R2 case (ii).
        clearVmxe: op(r, 'done', 'clear CR4.VMXE', 'cr4_clear_bits(X86_CR4_VMXE)'),
        done,
      },
      onDone: next,
    },
  };
}

/** cpu_svm_disable(): VM_HSAVE_PA=0; E2+ STGI first if SVME (GIF=1 so INIT is not held); clear SVME. */
function svmStates(r: Region, prefix: string, next: string, alwaysStgi: boolean): Record<string, CpuState> {
  return {
    [`${prefix}Hsave`]: op(r, `${prefix}SvmRoute`, 'write VM_HSAVE_PA 0', 'wrmsrl(MSR_VM_HSAVE_PA, 0)'),
    [`${prefix}SvmRoute`]: route(
      alwaysStgi ? [{ to: `${prefix}CheckSvme` }] : [{ if: feature('emergency-disables-svm'), to: `${prefix}CheckSvme` }, { to: `${prefix}ClearSvme` }],
    ),
    [`${prefix}CheckSvme`]: decide(r, [{ if: 'EFER.SVME set', to: `${prefix}Stgi` }, { to: next }], 'if (efer & EFER_SVME)'),
    [`${prefix}Stgi`]: decide(
      r,
      [
        {
          if: 'STGI faults',
          to: `${prefix}ClearSvme`,
          do: { type: 'fault', params: { insn: 'STGI', fault: '#UD', handling: 'eaten' } },
        },
        { to: `${prefix}ClearSvme`, do: 'STGI' },
      ],
      'STGI (fault fixup: continue)',
    ),
    [`${prefix}ClearSvme`]: op(r, next, 'clear EFER.SVME', 'wrmsrl(MSR_EFER, efer & ~EFER_SVME)'),
  };
}

/** Disable virtualization at one of the kernel's call sites; `done` when it returns. */
export function disableVirt(r: Region, site: VirtDisableSite): CpuState {
  return {
    initial: 'start',
    description: `disable virtualization (${site})`,
    states: {
      start: route([
        { if: block(site, 'core'), to: 'core' },
        { if: block(site, 'callback'), to: 'callback' },
        { if: block(site, 'vmclearHook'), to: 'hook' },
        { to: 'vmx' },
      ]),
      // E6: x86_virt_emergency_disable_virtualization_cpu() (arch/x86/virt/hw.c), KVM loaded or not. It
      // shares KVM's walk and the fault-eating VMXOFF / STGI with the E3 callback below.
      core: route([
        { if: not('virt backend'), to: 'done' },
        { if: guard('vendor is', { vendor: 'amd' }), to: 'coreSvmRebooting' },
        { to: 'coreRebooting' },
      ]),
      coreRebooting: op(r, 'coreCheckVmxe', 'set virt_rebooting', 'x86_vmx_emergency_disable_virtualization_cpu(): virt_rebooting = true'),
      // "CR4.VMXE can be _cleared_ in NMI context, but it can only be set in task context."
      coreCheckVmxe: decide(r, [{ if: not('CR4.VMXE set'), to: 'done' }, { to: 'coreCallback' }], 'if (!(__read_cr4() & X86_CR4_VMXE)) return'),
      // x86_virt_invoke_kvm_emergency_callback(): KVM's vmx_emergency_disable_virtualization_cpu() walks its
      // list; then x86_vmx_disable_virtualization_cpu(): VMXOFF with no further check, CR4.VMXE cleared either way.
      coreCallback: route([{ if: 'kvm loaded', to: 'cbWalk' }, { to: 'cbVmxoff' }]),
      coreSvmRebooting: op(r, 'coreCheckSvme', 'set virt_rebooting', 'x86_svm_emergency_disable_virtualization_cpu(): virt_rebooting = true'),
      coreCheckSvme: decide(r, [{ if: not('EFER.SVME set'), to: 'done' }, { to: 'coreSvmCallback' }], 'rdmsrq(MSR_EFER, efer); if (!(efer & EFER_SVME)) return'),
      // KVM's svm_emergency_disable_virtualization_cpu() keeps only the VM_HSAVE_PA write; then
      // x86_svm_disable_virtualization_cpu(): STGI with a fault fixup (GIF=1: INIT and NMI not held), clear SVME.
      coreSvmCallback: route([{ if: 'kvm loaded', to: 'coreHsave' }, { to: 'svmCbStgi' }]),
      coreHsave: op(r, 'svmCbStgi', 'write VM_HSAVE_PA 0', 'kvm callback: wrmsrq(MSR_VM_HSAVE_PA, 0)'),
      // E3+: the callback KVM registered, if any (cpu_emergency_virt_callback).
      callback: route([
        { if: not('kvm loaded'), to: 'done' },
        { if: guard('vendor is', { vendor: 'amd' }), to: 'svmCallback' },
        { if: feature('emergency-callback-sets-kvm-rebooting'), to: 'cbSetRebooting' },
        { to: 'cbVmxeRoute' },
      ]),
      cbSetRebooting: op(r, 'cbVmxeRoute', 'set kvm_rebooting', 'kvm_rebooting = true'),
      cbVmxeRoute: route([{ if: feature('skip-vmclear-if-vmxe-clear'), to: 'cbCheckVmxe' }, { to: 'cbWalk' }]),
      cbCheckVmxe: decide(r, [{ if: not('CR4.VMXE set'), to: 'done' }, { to: 'cbWalk' }], 'if (!(__read_cr4() & X86_CR4_VMXE)) return'),
      cbWalk: call(vmclearWalk(r, false), 'cbAfterWalk'),
      cbAfterWalk: route([{ if: block(site, 'core'), to: 'cbVmxoff' }, { to: 'cbCheckVmxoff' }]),
      cbCheckVmxoff: decide(r, [{ if: 'CR4.VMXE set', to: 'cbVmxoff' }, { to: 'done' }], 'kvm_cpu_vmxoff() if CR4.VMXE'),
      ...vmxoffStates(r, 'cb', 'done', 'eaten'),
      svmCallback: route([{ if: feature('emergency-callback-sets-kvm-rebooting'), to: 'svmSetRebooting' }, { to: 'svmCbHsave' }]),
      svmSetRebooting: op(r, 'svmCbHsave', 'set kvm_rebooting', 'kvm_rebooting = true'),
      ...svmStates(r, 'svmCb', 'done', true),
      // E0–E2 kdump: crash_vmclear_local_loaded_vmcss(), registered by kvm_intel.
      hook: route([
        { if: and(['kvm loaded', guard('vendor is', { vendor: 'intel' })]), to: 'hookWalk' },
        { to: 'vmx' },
      ]),
      hookWalk: call(vmclearWalk(r, false), 'vmx'),
      // cpu_emergency_vmxoff(): only if CPUID has VMX and CR4.VMXE is set.
      vmx: route([
        { if: and([block(site, 'vmx'), guard('vendor is', { vendor: 'intel' })]), to: 'checkVmxe' },
        { to: 'svm' },
      ]),
      checkVmxe: decide(r, [{ if: 'CR4.VMXE set', to: 'emergVmxoff' }, { to: 'svm' }], 'if (cpu_vmx_enabled())'),
      ...vmxoffStates(r, 'emerg', 'svm', 'kernel'),
      // cpu_emergency_svm_disable(): only if CPUID has SVM.
      svm: route([
        { if: and([block(site, 'svm'), guard('vendor is', { vendor: 'amd' })]), to: 'emergHsave' },
        { to: 'done' },
      ]),
      ...svmStates(r, 'emerg', 'done', false),
      done,
    },
  };
}

/**
 * KVM's hardware_disable on this CPU (orderly reboot, via on_each_cpu): VMCLEAR and unlink, VMXOFF
 * through KVM's fault handling (kvm_rebooting is set by then). hardware_disable_nolock() runs it only
 * on a CPU KVM enabled (cpus_hardware_enabled, later a per-CPU flag); the model has no such flag
 * and reads CR4.VMXE, which KVM set there and only a disable clears.
 */
export function hardwareDisable(r: Region): CpuState {
  return {
    initial: 'start',
    description: 'kvm hardware_disable_nolock()',
    states: {
      start: route([{ if: guard('vendor is', { vendor: 'amd' }), to: 'hwHsave' }, { to: 'walk' }]),
      walk: call(vmclearWalk(r, true), 'checkVmxe'),
      checkVmxe: decide(r, [{ if: 'CR4.VMXE set', to: 'hwVmxoff' }, { to: 'done' }], 'hardware_disable_nolock(): KVM enabled this CPU'),
      ...vmxoffStates(r, 'hw', 'done', 'kvm'),
      ...svmStates(r, 'hw', 'done', false),
      done,
    },
  };
}

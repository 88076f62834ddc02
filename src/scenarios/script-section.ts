/**
 * The `script` section of a scenario (validate.ts): each step's CPU, action, time or `when` trigger (a state
 * pattern of a CPU, vCPU or vhost-vsock device), context and message, each problem named by its place.
 */
import { readTraffic } from './vms.js';
import {
  CPU_ID_EXPECTATION,
  Problems,
  choiceExpectation,
  readArray,
  readChoice,
  readCpuId,
  readInteger,
  readObject,
  readString,
  shown,
  type Field,
} from './reader.js';
import {
  MAX_MESSAGE_LENGTH,
  MAX_PATTERN_ALTERNATIVES,
  MAX_PATTERN_LENGTH,
  MAX_SCRIPT_STEPS,
  MAX_WHEN_TRIGGERS,
} from './limits.js';
import type { ScriptAction, ScriptStep, Trigger } from './types.js';
import type { ValidationContext } from './validation-context.js';

const ACTIONS: readonly ScriptAction[] = ['reboot', 'emergency-restart', 'panic', 'nmi-panic', 'irqs-off', 'irqs-on', 'stall', 'smi', 'vsock-send'];
const CONTEXTS: readonly ScriptStep['context'][] = ['task', 'irq', 'nmi'];

/** Actions that take a `context`: the ones whose caller matters (panic() from an NMI handler, SysRq-b from an interrupt). */
const TAKES_CONTEXT: readonly ScriptAction[] = ['panic', 'emergency-restart'];
/** Actions that take a `message`: the ones that print "Kernel panic - not syncing: <message>". */
const TAKES_MESSAGE: readonly ScriptAction[] = ['panic', 'nmi-panic'];

export const DEFAULT_PANIC_MESSAGE = 'shootdown scenario';

const STEP_KEYS = ['cpu', 'do', 'at', 'when', 'context', 'message', 'send'];

/** A trigger's state pattern, bounded in length and alternatives before anything is matched against it. */
function readPattern(field: Field, out: Problems): string | undefined {
  const pattern = readString(field, out, true, MAX_PATTERN_LENGTH);
  if (pattern === undefined) return undefined;
  let alternatives = 1;
  for (let i = pattern.indexOf('|'); i >= 0; i = pattern.indexOf('|', i + 1)) alternatives += 1;
  if (alternatives > MAX_PATTERN_ALTERNATIVES) {
    out.add(field.loc, `too many alternatives: ${alternatives} (at most ${MAX_PATTERN_ALTERNATIVES})`);
    return undefined;
  }
  return pattern;
}

function readWhen(field: Field, cpus: number | undefined, vcpus: number, devices: number, ctx: ValidationContext, out: Problems): Trigger | undefined {
  // `cpu` is required unless the step waits for a vCPU (`vcpu`) or a vsock device (`vsock`) instead.
  const isObject = typeof field.value === 'object' && field.value !== null && !Array.isArray(field.value);
  const has = (k: string) => isObject && Object.prototype.hasOwnProperty.call(field.value, k);
  if (has('vsock')) {
    const f = readObject(field, ['vsock', 'enters'], out);
    if (f === undefined) return undefined;
    const devField = f.get('vsock') as Field;
    const dev = readInteger(devField, 0, Math.max(0, devices - 1), out);
    if (dev !== undefined && devices === 0) out.add(devField.loc, 'no vsock device with this index: no VM has a \'vsock\'');
    const entersField = f.get('enters');
    if (entersField === undefined) out.add(field.loc, "missing 'enters'");
    const state = entersField === undefined ? undefined : readPattern(entersField, out);
    if (entersField !== undefined && state !== undefined && !(ctx.isKnownVsockState?.(state) ?? false)) {
      out.add(entersField.loc, `no state named ${shown(state)} in the vhost-vsock machine`);
      return undefined;
    }
    return dev === undefined || state === undefined || devices === 0 ? undefined : { kind: 'enters', cpu: dev, state, actor: 'vsock' };
  }
  const waitsForVcpu = has('vcpu');
  const fields = readObject(field, ['cpu', 'vcpu', 'enters'], out, {
    ...(waitsForVcpu ? {} : { cpu: CPU_ID_EXPECTATION }),
    enters: waitsForVcpu ? 'expected the name of a vCPU state' : 'expected the name of a physical CPU state',
  });
  if (fields === undefined) return undefined;
  const vcpuField = fields.get('vcpu');
  if (vcpuField !== undefined) {
    if (fields.has('cpu')) out.add(field.loc, "has both 'cpu' and 'vcpu' (expected one: whose state is watched)");
    const vcpu = readInteger(vcpuField, 0, Math.max(0, vcpus - 1), out);
    if (vcpu !== undefined && vcpus === 0) out.add(vcpuField.loc, "no vCPU with this index: the scenario has no 'vms'");
    const entersField = fields.get('enters');
    const state = entersField === undefined ? undefined : readPattern(entersField, out);
    if (entersField !== undefined && state !== undefined && !(ctx.isKnownVcpuState?.(state) ?? false)) {
      out.add(entersField.loc, `no state named ${shown(state)} in the vCPU machine`);
      return undefined;
    }
    return vcpu === undefined || state === undefined || vcpus === 0 ? undefined : { kind: 'enters', cpu: vcpu, state, actor: 'vcpu' };
  }
  const cpuField = fields.get('cpu');
  const cpu = cpuField === undefined ? undefined : readCpuId(cpuField, cpus, out);
  const entersField = fields.get('enters');
  const state = entersField === undefined ? undefined : readPattern(entersField, out);
  if (entersField !== undefined && state !== undefined && !ctx.isKnownState(state)) {
    const hints = ctx.stateHint?.(state) ?? [];
    const suggestion = hints.length > 0 ? ` (did you mean: ${hints.join(', ')}?)` : '';
    out.add(entersField.loc, `no state named ${shown(state)} in the physical CPU machine${suggestion}`);
    return undefined;
  }
  return cpu === undefined || state === undefined ? undefined : { kind: 'enters', cpu, state, actor: 'cpu' };
}

function readStep(field: Field, index: number, cpus: number | undefined, vcpus: number, devices: number, ctx: ValidationContext, out: Problems): ScriptStep | undefined {
  const fields = readObject(field, STEP_KEYS, out, { cpu: CPU_ID_EXPECTATION, do: choiceExpectation(ACTIONS) });
  if (fields === undefined) return undefined;
  const cpuField = fields.get('cpu');
  const cpu = cpuField === undefined ? undefined : readCpuId(cpuField, cpus, out);
  const doField = fields.get('do');
  const action = doField === undefined ? undefined : readChoice(doField, 'action', ACTIONS, out);

  const at = fields.get('at');
  const when = fields.get('when');
  let trigger: Trigger | undefined;
  if (at !== undefined && when !== undefined) out.add(field.loc, "has both 'at' and 'when' (expected exactly one)");
  else if (at === undefined && when === undefined) out.add(field.loc, "missing 'at' or 'when' (expected exactly one)");
  if (at !== undefined) {
    const timeNs = readInteger(at, 0, Number.MAX_SAFE_INTEGER, out);
    if (timeNs !== undefined) trigger = { kind: 'at', timeNs };
  }
  if (when !== undefined) trigger = readWhen(when, cpus, vcpus, devices, ctx, out);

  let context: ScriptStep['context'] = 'task';
  const contextField = fields.get('context');
  if (contextField !== undefined) {
    if (action !== undefined && !TAKES_CONTEXT.includes(action)) {
      out.add(contextField.loc, `only allowed when 'do' is ${TAKES_CONTEXT.join(' or ')}`);
    } else context = readChoice(contextField, 'context', CONTEXTS, out) ?? context;
  }
  let message = DEFAULT_PANIC_MESSAGE;
  const messageField = fields.get('message');
  if (messageField !== undefined) {
    if (action !== undefined && !TAKES_MESSAGE.includes(action)) {
      out.add(messageField.loc, `only allowed when 'do' is ${TAKES_MESSAGE.join(' or ')}`);
    } else message = readString(messageField, out, false, MAX_MESSAGE_LENGTH) ?? message;
  }

  let send: ScriptStep['send'];
  const sendField = fields.get('send');
  if (action === 'vsock-send') {
    if (sendField === undefined) out.add(field.loc, "'vsock-send' needs 'send': { \"cid\", \"op\", \"srcPort\", \"dstPort\", \"len\", \"count\" }");
    else {
      const value = sendField.value;
      const cidValue = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>).cid : undefined;
      const rest = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'cid')) : value;
      const traffic = readTraffic({ value: rest, loc: sendField.loc }, out);
      if (typeof cidValue !== 'number' || !Number.isInteger(cidValue) || cidValue < 0 || cidValue > 0xffff_ffff) {
        out.add(sendField.loc, "missing or bad 'cid' (expected the guest CID the host socket sends to)");
      } else if (traffic !== undefined) send = { ...traffic, cid: cidValue };
    }
  } else if (sendField !== undefined) out.add(sendField.loc, "only allowed when 'do' is vsock-send");

  if (cpu === undefined || action === undefined || trigger === undefined) return undefined;
  if (action === 'vsock-send' && send === undefined) return undefined;
  return { index, cpu, action, trigger, context, message, ...(send ? { send } : {}) };
}

export function readScript(field: Field | undefined, cpus: number | undefined, vcpus: number, devices: number, ctx: ValidationContext, out: Problems): ScriptStep[] {
  if (field === undefined) return [];
  const steps: ScriptStep[] = [];
  let whens = 0;
  (readArray(field, out, 'expected an array', MAX_SCRIPT_STEPS) ?? []).forEach((item, index) => {
    const step = readStep(item, index, cpus, vcpus, devices, ctx, out);
    if (step === undefined) return;
    if (step.trigger.kind === 'enters' && ++whens === MAX_WHEN_TRIGGERS + 1) {
      out.add(item.loc, `more than ${MAX_WHEN_TRIGGERS} script steps with a 'when' trigger (each is checked at every state change of its CPU)`);
    }
    steps.push(step);
  });
  return steps;
}

/**
 * The chart as data, read from the machine definition the simulator runs: every state node, its
 * kind, its transitions with event, guard and targets; and what a diagram shows when compound
 * states are closed.
 */
import { describe, expect, it } from 'vitest';
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { stateTable } from '../../src/sim/state-table.js';
import { exportScope, guardLabel, nodeAtPath, visibleGraph } from '../../src/viz/chart-model.js';
import { chart } from './helpers.js';

describe('chartOf(physicalCpuMachine)', () => {
  it('has exactly the state nodes the simulator knows, with the same paths', () => {
    const paths = [...stateTable(physicalCpuMachine as never).keys()].sort();
    expect(chart.nodes.map((n) => n.path).sort()).toEqual(paths);
    expect(chart.nodes.length).toBeGreaterThan(1000);
  });

  it('keeps kinds, descriptions and tags: os is parallel with four regions, finals are final', () => {
    const os = nodeAtPath(chart, 'os');
    expect(os?.type).toBe('parallel');
    expect(os?.children.map((c) => chart.nodes[c]?.key)).toEqual(['task', 'irq', 'nmi', 'smm']);
    expect(os?.description).toBe('the kernel runs: one region per execution context');
    expect(nodeAtPath(chart, 'reset')?.type).toBe('final');
    expect(nodeAtPath(chart, 'waitForSipi')?.tags).toContain('blocked');
  });

  it('labels transitions with event and guard, and resolves targets', () => {
    const idle = nodeAtPath(chart, 'os.nmi.idle');
    const take = idle?.transitions.find((t) => t.event === 'bus.nmi');
    expect(take?.guard).toBe('arrival (take)');
    expect(take?.targets.map((i) => chart.nodes[i]?.path)).toEqual(['os.nmi.dispatch']);
    const always = idle?.transitions.find((t) => t.kind === 'always');
    expect(always?.label).toBe('');
    expect(always?.guard).toBe('latched NMI deliverable');
    const nmiPanic = nodeAtPath(chart, 'os.nmi.nmiPanic');
    expect(nmiPanic?.transitions.find((t) => t.kind === 'done')?.targets.map((i) => chart.nodes[i]?.path)).toEqual(['os.nmi.iret']);
  });

  it('prints guards by name and parameter values, including higher-order ones', () => {
    expect(guardLabel('vmxe set')).toBe('vmxe set');
    expect(guardLabel({ type: 'IRQ vector is', params: { vector: 248 } })).toBe('IRQ vector is (248)');
    const and = Object.assign(function and() {}, { guards: ['a', { type: 'b' }] });
    expect(guardLabel(and)).toBe('a and b');
    expect(guardLabel(undefined)).toBeNull();
  });
});

describe('visibleGraph', () => {
  it('a closed compound stands for its inside: transitions into it are drawn to it, none inside it', () => {
    const nmi = nodeAtPath(chart, 'os.nmi') as { index: number };
    const handler = nodeAtPath(chart, 'os.nmi.emergencyHandler') as { index: number };
    const g = visibleGraph(chart, new Set([handler.index]), nmi.index);
    expect(g.collapsed.has(handler.index)).toBe(true);
    expect(g.nodes).not.toContain(nodeAtPath(chart, 'os.nmi.emergencyHandler.irqOff')?.index);
    const into = g.edges.filter((e) => e.target === handler.index);
    expect(into.map((e) => chart.nodes[e.source]?.path)).toContain('os.nmi.dispatch');
    expect(g.edges.some((e) => e.source === handler.index && e.target === handler.index)).toBe(false);
  });

  it('exportScope closes compounds below a depth and rejects unknown roots', () => {
    const scope = exportScope(chart, '', 2);
    if ('error' in scope) throw new Error(scope.error);
    expect(scope.collapse.has(nodeAtPath(chart, 'os.task')?.index as number)).toBe(true);
    expect(scope.collapse.has(nodeAtPath(chart, 'os')?.index as number)).toBe(false);
    expect(exportScope(chart, 'os.nowhere')).toEqual({ error: "no state at path 'os.nowhere'" });
  });
});

/**
 * Every size that input can name, bounded in one place. A scenario file, a trace file or a flag that
 * asks for more is refused with a message naming where and the limit, before any memory is spent on
 * it. The limits are generous for real use: the bench runs 8,192 CPUs, and nothing in the kernel
 * paths modelled here needs more of anything than is allowed below.
 */

/** CPUs of a machine (`machine.cpus`, a trace header's `cpus`): the bench's largest size; x86 NR_CPUS is 8192 in distribution kernels. */
export const MAX_CPUS = 8192;

/**
 * A run's seed (`--seed`, a trace header's, the library's `seed`): the scheduler's generator
 * (mulberry32, src/sim/chooser.ts) keeps 32 bits, so a larger seed would run as a smaller one.
 */
export const MAX_SEED = 0xffff_ffff;

/**
 * A register value in a VMM script (`efer`, `rip`, a vhost call's `arg`). The kernel takes 64 bits
 * (struct kvm_sregs, struct kvm_regs: __u64); the model holds a value as a JavaScript number, exact up
 * to 2^53 − 1, so a larger one is refused rather than rounded. Every EFER bit KVM ever allows is below
 * bit 22, and a reserved bit from 15 to 52 tests the same as one above.
 */
export const MAX_REGISTER_VALUE = Number.MAX_SAFE_INTEGER;

/** Bytes of a scenario file's text. An 8,192-CPU scenario with a step per CPU is well under 1 MiB. */
export const MAX_SCENARIO_BYTES = 16 * 1024 * 1024;

/** Entries of any array in a scenario file not bounded more tightly below. */
export const MAX_ARRAY_ENTRIES = 65_536;

/** Steps of a scenario's `script` (a step for every CPU of the largest machine, eight times over). */
export const MAX_SCRIPT_STEPS = 65_536;

/**
 * Script steps with a `when … enters` trigger: every state change of a CPU checks its pending
 * triggers, so their number multiplies the run's cost (16,000 of them on 64 CPUs took 38 s).
 */
export const MAX_WHEN_TRIGGERS = 1024;

/** VMs in `vms`. */
export const MAX_VMS = 4096;

/**
 * vCPUs of one VM: the most x86 KVM ever allows (CONFIG_KVM_MAX_NR_VCPUS, at most 4096, from v6.8).
 * The modelled kernels' KVM_MAX_VCPUS (src/kvm/ioctl.ts kvmMaxVcpus: 288 before v5.15, 1024 from
 * it) is below it, so a scenario can reach each one's -EINVAL from KVM_CREATE_VCPU.
 */
export const MAX_VCPUS_PER_VM = 4096;

/** vCPUs of all VMs together. */
export const MAX_VCPUS = 16_384;

/**
 * Instructions of one guest program (l1, l2, smm) and ioctl calls of one VMM thread's script, counted
 * after `{ "vhost": … }` steps are expanded into the calls they stand for (a `start` is 15).
 */
export const MAX_PROGRAM_LENGTH = 4096;

/**
 * Regions of all VHOST_SET_MEM_TABLE calls of a scenario's VMM scripts together, counting the tables
 * the kernel reads: each region is kept in its VMM thread's script, in every save of the machine.
 * A table of max_mem_regions (64, drivers/vhost/vhost.c) for each of 1,024 calls. A table of more
 * than max_mem_regions is refused by vhost_set_memory from its count alone (-E2BIG) and adds nothing.
 */
export const MAX_MEM_TABLE_REGIONS = 65_536;

/** Packets one traffic line (or one `vsock-send` step) may make: the packet path keeps every packet's fate. */
export const MAX_TRAFFIC_COUNT = 4096;

/** Packets of all traffic lines and `vsock-send` steps of a scenario together. */
export const MAX_PACKETS = 1_048_576;

/** Traffic lines of one vsock device's guest. */
export const MAX_TRAFFIC_LINES = 1024;

/** Ports one side of a vsock device listens on. */
export const MAX_PORTS = 1024;

/** Characters of a trigger's state pattern (`when.enters`). */
export const MAX_PATTERN_LENGTH = 1024;

/** `a|b|…` alternatives in one state pattern. */
export const MAX_PATTERN_ALTERNATIVES = 64;

/** Characters of a panic message: panic() formats into `static char buf[1024]` (kernel/panic.c). */
export const MAX_MESSAGE_LENGTH = 1024;

/** Problems listed for one bad scenario file; the rest are counted ("… and N more errors"). */
export const MAX_ERRORS = 100;

/**
 * Characters of one line of a trace file. A record is a few hundred bytes and a console line at most
 * 1 KiB, but the vhost-vsock ledger's last record lists every packet's id (up to MAX_PACKETS,
 * 1,048,576: about 8 MB), and the bound must let every trace shootdown writes be read back.
 */
export const MAX_TRACE_LINE = 16 * 1024 * 1024;

/** Deliveries in flight at once in a trace file (with NMIs collapsing, a run of 8,192 CPUs has a few per CPU). */
export const MAX_TRACE_IN_FLIGHT = 1_048_576;

/**
 * Entries of each of a run's per-record outcome lists (ioctls, events, console, faults, warnings); the
 * rest are counted in `outcome.omitted`. A guest that loops on port I/O or MMIO makes a KVM_RUN and its
 * kvm events every few steps, so without a bound these lists grow with `options.maxSteps` (up to 10^8)
 * until the heap runs out; 65,536 is four for each of the 16,384 vCPUs a scenario may have (QEMU's default
 * script makes three).
 */
export const MAX_OUTCOME_ENTRIES = 65_536;

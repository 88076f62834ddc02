/**
 * Built-in scenarios with a vhost-vsock device: rows T11–T15 of docs/model.md §6, a guest reboot with
 * traffic in both directions (§5.6), and a host emergency restart while packets flow. Plain
 * scenario files like the others, validated the same way.
 */
import type { BuiltinScenario } from './builtin-scenario.js';

/** A VM whose VMM thread on CPU 1 issues `vmm` on a vsock device it sets up itself. */
function scripted(vmm: unknown[], cpu = 1): unknown {
  return { vsock: { setup: 'script', worker: 0 }, vcpus: [{ cpu, vmm }] };
}

const REALIZE = { vhost: 'realize' };
const START = { vhost: 'start' };

export const VSOCK_SCENARIOS: readonly BuiltinScenario[] = [
  {
    id: 'T11',
    name: 'vhost-set-running-unowned',
    summary: 'vhost-vsock: SET_RUNNING 1 right after open, under both names of 0x4004AF61: -EPERM, nothing changes',
    raw: {
      name: 'vhost-set-running-unowned',
      description:
        'docs/model.md §6 T11 / §5.3: the VMM opens /dev/vhost-vsock and starts it at once. vhost_vsock_start checks the owner first: ' +
        'no SET_OWNER yet, so -EPERM, and the device stays unowned. VHOST_VSOCK_SET_RUNNING and the generic VHOST_SET_RUNNING ' +
        'are one number, 0x4004AF61.',
      machine: { cpus: 2 },
      vms: [scripted([{ ioctl: 'VHOST_VSOCK_SET_RUNNING', arg: 1 }, { ioctl: 'VHOST_SET_RUNNING', arg: 1 }])],
    },
  },
  {
    id: 'T12',
    name: 'vhost-start-without-mem-table',
    summary: 'vhost-vsock: owner set, no memory table, SET_RUNNING 1: -EFAULT and both backends stay NULL',
    raw: {
      name: 'vhost-start-without-mem-table',
      description:
        'docs/model.md §6 T12 / §5.3: after SET_OWNER the VMM starts the device without SET_MEM_TABLE. vhost_vq_access_ok fails ' +
        '(umem is NULL) for the RX queue: -EFAULT, and the all-or-nothing start leaves both backends NULL.',
      machine: { cpus: 2 },
      vms: [scripted([{ ioctl: 'VHOST_SET_OWNER' }, { ioctl: 'VHOST_SET_RUNNING', arg: 1 }])],
    },
  },
  {
    id: 'T13',
    name: 'vhost-vring-num-while-running',
    summary: 'vhost-vsock: SET_VRING_NUM while running is -EBUSY; after SET_RUNNING 0 it succeeds',
    raw: {
      name: 'vhost-vring-num-while-running',
      description:
        'docs/model.md §6 T13 / §5.4: QEMU realizes and starts the device; resizing a ring of a running queue is -EBUSY (as is ' +
        'SET_VRING_BASE); once SET_RUNNING 0 cleared the backends both are legal again.',
      machine: { cpus: 2 },
      vms: [
        scripted([
          REALIZE,
          START,
          { ioctl: 'VHOST_SET_VRING_NUM', index: 0, num: 64 },
          { ioctl: 'VHOST_SET_VRING_BASE', index: 1, num: 0 },
          { ioctl: 'VHOST_SET_RUNNING', arg: 0 },
          { ioctl: 'VHOST_SET_VRING_NUM', index: 0, num: 64 },
          { ioctl: 'VHOST_SET_VRING_BASE', index: 1, num: 0 },
        ]),
      ],
    },
  },
  {
    id: 'T14',
    name: 'vsock-guest-reboot',
    summary: 'vhost-vsock: the guest triple-faults with traffic both ways; QEMU stops and restarts vhost; queued host packets reach the new guest, which resets them',
    raw: {
      name: 'vsock-guest-reboot',
      description:
        'docs/model.md §6 T14 / §5.6: a guest and a host socket connect both ways and exchange data; then the guest triple-faults. ' +
        'KVM_EXIT_SHUTDOWN makes QEMU reset the VM: SET_RUNNING 0 first, GET_VRING_BASE for each queue, a vCPU reset; the new ' +
        "guest's driver writes DRIVER_OK and QEMU starts vhost again: SET_FEATURES, SET_MEM_TABLE, per queue NUM/BASE/ADDR/KICK, " +
        'SET_RUNNING 1. Host data sent while the device is stopped stays in the send queue, is delivered to the new guest after ' +
        'the restart, and the new guest, which knows no connection, answers each with RST.',
      machine: { cpus: 3 },
      options: { maxSteps: 20000 },
      vms: [
        {
          onShutdown: 'reset',
          vsock: {
            cid: 3,
            worker: 2,
            hostListen: [5000],
            guestListen: [6000],
            guestTraffic: [
              { op: 'REQUEST', srcPort: 1024, dstPort: 5000 },
              { op: 'RW', srcPort: 1024, dstPort: 5000, len: 100, count: 3 },
            ],
          },
          vcpus: [
            {
              cpu: 1,
              afterReset: 13,
              guest: {
                l1: ['vsock-ready', 'vsock-send', 'io', 'vsock-send', 'io', 'io', 'io', 'io', 'io', 'io', 'io', 'io', 'triple-fault', 'vsock-ready', 'spin'],
              },
            },
          ],
        },
      ],
      script: [
        { at: 300, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } },
        { at: 800, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 200, count: 2 } },
        { when: { vsock: 0, enters: 'stopped' }, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 300, count: 3 } },
      ],
    },
  },
  {
    id: 'T15',
    name: 'vhost-guest-cid-in-use',
    summary: 'vhost-vsock: two instances set the same guest CID: the second gets -EADDRINUSE; CID 2 is -EINVAL; after close the CID is free',
    raw: {
      name: 'vhost-guest-cid-in-use',
      description:
        'docs/model.md §6 T15 / §5.2: two VMs, each with its vhost-vsock instance. The first takes CID 5; the second asks for 5 ' +
        '(-EADDRINUSE: the CID hash is the host\'s) and for 2, the host\'s own CID (-EINVAL); after the first closes its fd, ' +
        'CID 5 is free. The second VMM creates its vCPU first, so its first CID call comes after the first VMM\'s, and its last after the close.',
      machine: { cpus: 3 },
      vms: [
        scripted(
          [
            { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 5 },
            { ioctl: 'KVM_CREATE_VCPU' },
            { ioctl: 'KVM_SET_CPUID2' },
            { ioctl: 'VHOST_GET_FEATURES' },
            { ioctl: 'close' },
          ],
          1,
        ),
        scripted(
          [
            { ioctl: 'KVM_CREATE_VCPU' },
            { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 5 },
            { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 2 },
            { ioctl: 'VHOST_GET_FEATURES' },
            { ioctl: 'VHOST_GET_FEATURES' },
            { ioctl: 'VHOST_GET_FEATURES' },
            { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 5 },
          ],
          2,
        ),
      ],
    },
  },
  {
    id: 'T-vsock-restart',
    name: 'vsock-host-emergency-restart',
    summary: 'emergency restart while a guest and a host socket exchange data: which packets were delivered, which were queued and lost',
    raw: {
      name: 'vsock-host-emergency-restart',
      description:
        'docs/model.md §1.2 with §5.5: the host sends a stream of packets to a guest whose driver keeps 4 RX buffers posted and ' +
        'refills them on each RX interrupt, the guest sends its own; SysRq-b on CPU 0 shoots down the other CPUs, among them the ' +
        "vhost worker's CPU 2 and the vCPU's CPU 1, and resets the machine. Packets the worker had put in a ring were delivered; " +
        'what was still in the send queue or the TX ring is lost with the host.',
      machine: { cpus: 4 },
      vms: [
        {
          vsock: {
            cid: 3,
            worker: 2,
            rxBuffers: 4,
            hostListen: [5000],
            guestListen: [6000],
            guestTraffic: [
              { op: 'REQUEST', srcPort: 1024, dstPort: 5000 },
              { op: 'RW', srcPort: 1024, dstPort: 5000, len: 512, count: 4 },
              { op: 'RW', srcPort: 1024, dstPort: 5000, len: 512, count: 4 },
            ],
          },
          vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'vsock-send', 'io', 'vsock-send', 'io', 'vsock-send', 'spin'] } }],
        },
      ],
      script: [
        { at: 500, cpu: 3, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } },
        { at: 900, cpu: 3, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 1024, count: 16 } },
        { at: 1600, cpu: 0, do: 'emergency-restart' },
        { at: 1700, cpu: 3, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 1024, count: 32 } },
      ],
    },
  },
  {
    id: 'T-vsock-credit',
    name: 'vsock-stream-credit',
    summary: 'vhost-vsock: a host socket writes 16 KiB to a guest socket with a 4 KiB buffer: credit holds the rest back until CREDIT_UPDATEs come',
    raw: {
      name: 'vsock-stream-credit',
      description:
        'docs/model.md §5.5: the host connects to a guest socket whose receive buffer is 4 KiB and writes 16 × 1 KiB. The host may ' +
        'have at most buf_alloc − (tx_cnt − peer_fwd_cnt) bytes in flight: 4 KiB go out, the rest waits in the socket. The ' +
        'guest reads what arrives and, its advertised free space under 64 KiB, answers with CREDIT_UPDATE; each update lets ' +
        'the host send more, until all 16 KiB are through.',
      machine: { cpus: 3 },
      vms: [
        {
          vsock: { cid: 3, worker: 2, guestListen: [6000], guestBufAlloc: 4096 },
          vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] } }],
        },
      ],
      script: [
        { at: 500, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } },
        { at: 1000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 1024, count: 16 } },
      ],
    },
  },
];

/**
 * `struct virtio_vsock_hdr` (include/uapi/linux/virtio_vsock.h; docs/model.md §5.5): packed, little
 * endian, 44 bytes — src_cid u64, dst_cid u64, src_port u32, dst_port u32, len u32, type u16,
 * op u16, flags u32, buf_alloc u32, fwd_cnt u32. The packet path keeps packets as objects; this is
 * their wire form, written into every `packet` record of a trace so a reader sees what the guest's
 * ring held.
 */
import { HDR_SIZE, OP, type OpName, type Packet } from './datapath.js';
import { VhostInputError } from './device.js';

export const VIRTIO_VSOCK_TYPE = { STREAM: 1, SEQPACKET: 2 } as const;
export type SocketType = keyof typeof VIRTIO_VSOCK_TYPE;

export interface VsockHeader {
  srcCid: number;
  dstCid: number;
  srcPort: number;
  dstPort: number;
  len: number;
  type: SocketType;
  op: OpName;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

/** The header of a packet of the model (stream sockets; no flags unless a SHUTDOWN names them). */
export function headerOf(p: Packet, flags = 0): VsockHeader {
  return {
    srcCid: p.srcCid,
    dstCid: p.dstCid,
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    len: p.len,
    type: 'STREAM',
    op: p.op,
    flags,
    bufAlloc: p.bufAlloc ?? 0,
    fwdCnt: p.fwdCnt ?? 0,
  };
}

export function encodeHeader(h: VsockHeader): Uint8Array {
  const bytes = new Uint8Array(HDR_SIZE);
  const v = new DataView(bytes.buffer);
  v.setBigUint64(0, BigInt(h.srcCid), true);
  v.setBigUint64(8, BigInt(h.dstCid), true);
  v.setUint32(16, h.srcPort, true);
  v.setUint32(20, h.dstPort, true);
  v.setUint32(24, h.len, true);
  v.setUint16(28, VIRTIO_VSOCK_TYPE[h.type], true);
  v.setUint16(30, OP[h.op], true);
  v.setUint32(32, h.flags, true);
  v.setUint32(36, h.bufAlloc >>> 0, true);
  v.setUint32(40, h.fwdCnt >>> 0, true);
  return bytes;
}

const OP_NAMES = new Map<number, OpName>(Object.entries(OP).map(([k, v]) => [v, k as OpName]));
const TYPE_NAMES = new Map<number, SocketType>(Object.entries(VIRTIO_VSOCK_TYPE).map(([k, v]) => [v, k as SocketType]));

/** Read a header back; an unknown type or op, or a short buffer, is a named error. */
export function decodeHeader(bytes: Uint8Array): VsockHeader {
  if (bytes.length < HDR_SIZE) throw new VhostInputError(`virtio_vsock_hdr: ${bytes.length} bytes, expected ${HDR_SIZE}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = TYPE_NAMES.get(v.getUint16(28, true));
  const op = OP_NAMES.get(v.getUint16(30, true));
  if (type === undefined) throw new VhostInputError(`virtio_vsock_hdr: unknown type ${v.getUint16(28, true)}`);
  if (op === undefined) throw new VhostInputError(`virtio_vsock_hdr: unknown op ${v.getUint16(30, true)}`);
  return {
    srcCid: Number(v.getBigUint64(0, true)),
    dstCid: Number(v.getBigUint64(8, true)),
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type,
    op,
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

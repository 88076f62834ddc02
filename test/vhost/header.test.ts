import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader, hex, type VsockHeader } from '../../src/vhost/header.js';
import { VhostInputError } from '../../src/vhost/device.js';

const H: VsockHeader = { srcCid: 3, dstCid: 2, srcPort: 1024, dstPort: 5000, len: 100, type: 'STREAM', op: 'RW', flags: 0, bufAlloc: 262144, fwdCnt: 7 };

describe('struct virtio_vsock_hdr (docs/model.md §5.5)', () => {
  it('is 44 packed little-endian bytes at the uapi offsets', () => {
    expect(hex(encodeHeader(H))).toBe(
      '0300000000000000' + // src_cid
        '0200000000000000' + // dst_cid
        '00040000' + // src_port 1024
        '88130000' + // dst_port 5000
        '64000000' + // len 100
        '0100' + // type STREAM
        '0500' + // op RW
        '00000000' + // flags
        '00000400' + // buf_alloc 256 KiB
        '07000000', // fwd_cnt
    );
  });

  it('reads back what it wrote; a short buffer or an unknown op is a named error', () => {
    expect(decodeHeader(encodeHeader({ ...H, op: 'CREDIT_UPDATE', type: 'SEQPACKET', srcCid: 0xffff_fffe }))).toEqual({
      ...H,
      op: 'CREDIT_UPDATE',
      type: 'SEQPACKET',
      srcCid: 0xffff_fffe,
    });
    expect(() => decodeHeader(new Uint8Array(43))).toThrow(VhostInputError);
    const bad = encodeHeader(H);
    bad[30] = 9;
    expect(() => decodeHeader(bad)).toThrow(/unknown op 9/);
  });
});

import { crc32 } from 'node:zlib';

/** Opens every record, so that a reader that lands in the middle of one never takes data for a header. */
const MAGIC = 0x52534c31;
/** Magic, payload length, CRC-32 of the payload: each a big-endian u32. */
export const HEADER_BYTES = 12;
/** A payload longer than this is not a record this store wrote (a torn or foreign header). */
const MAX_PAYLOAD = 1 << 30;

/** What a record says besides its data. Short names: one of these is written per version. */
export interface RecordMeta {
  /** The key. */
  k: string;
  /** The key's version sequence number. */
  s: number;
  /** Unix ms of the write. */
  t: number;
  /** MD5 hex of the whole body this record makes (empty for a delete). */
  m: string;
  /** `c` a checkpoint (data is the whole body), `d` a delta (data is the insert), `x` a delete. */
  op: 'c' | 'd' | 'x';
  /** Delta: bytes kept from the start of the previous body. */
  p?: number;
  /** Delta: bytes kept from the end of the previous body. */
  q?: number;
}

/** A record as read back from the log. */
export interface LogRecord {
  meta: RecordMeta;
  data: Buffer;
  /** Where the record starts in the log. */
  offset: number;
  /** Its whole size, header included. */
  length: number;
}

/** One record, framed: header, then the meta as JSON behind its u32 length, then the data. */
export function encodeRecord(meta: RecordMeta, data: Uint8Array): Buffer {
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf-8');
  const payloadLength = 4 + metaBytes.length + data.length;
  const record = Buffer.allocUnsafe(HEADER_BYTES + payloadLength);
  record.writeUInt32BE(MAGIC, 0);
  record.writeUInt32BE(payloadLength, 4);
  record.writeUInt32BE(metaBytes.length, HEADER_BYTES);
  metaBytes.copy(record, HEADER_BYTES + 4);
  record.set(data, HEADER_BYTES + 4 + metaBytes.length);
  record.writeUInt32BE(crc32(record.subarray(HEADER_BYTES)), 8);
  return record;
}

/**
 * The whole records at the start of `bytes` (read from the log at `offset`),
 * stopping at the first that is incomplete or fails its checksum. Returns
 * them, where they end, and how many bytes the next record needs in all when
 * only its header is whole (so the caller can read that much and try again).
 */
export function decodeRecords(bytes: Buffer, offset: number): { records: LogRecord[]; end: number; needed: number | undefined } {
  const records: LogRecord[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < HEADER_BYTES) return { records, end: offset + at, needed: undefined };
    const payloadLength = bytes.readUInt32BE(at + 4);
    if (bytes.readUInt32BE(at) !== MAGIC || payloadLength < 4 || payloadLength > MAX_PAYLOAD)
      return { records, end: offset + at, needed: undefined };
    const length = HEADER_BYTES + payloadLength;
    if (bytes.length - at < length) return { records, end: offset + at, needed: length };
    const payload = bytes.subarray(at + HEADER_BYTES, at + length);
    const meta = crc32(payload) === bytes.readUInt32BE(at + 8) ? parseMeta(payload) : undefined;
    if (meta === undefined) return { records, end: offset + at, needed: undefined };
    records.push({ meta, data: payload.subarray(4 + payload.readUInt32BE(0)), offset: offset + at, length });
    at += length;
  }
}

function parseMeta(payload: Buffer): RecordMeta | undefined {
  const metaLength = payload.readUInt32BE(0);
  if (4 + metaLength > payload.length) return undefined;
  try {
    const meta = JSON.parse(payload.toString('utf-8', 4, 4 + metaLength)) as RecordMeta;
    return typeof meta.k === 'string' && Number.isSafeInteger(meta.s) && ['c', 'd', 'x'].includes(meta.op) ? meta : undefined;
  } catch {
    return undefined;
  }
}

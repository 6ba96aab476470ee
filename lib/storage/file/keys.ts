import path from 'node:path';

/** Longest key accepted, in UTF-8 bytes: the limit Amazon S3 sets. */
const MAX_KEY_BYTES = 1024;
/** Longest encoded segment, so that it and a suffix such as `~versions` fit in a 255-byte file name. */
const MAX_ENCODED_SEGMENT = 200;
/** The byte `/`, which ends the decoded name of every directory in the key tree. */
export const SLASH = 0x2f;
/** Marks every name that is not a key: locks, temporary files, and the per-key versions directory. */
export const SIDE_MARK = '~';

/** A key the file store refuses because it could not be stored safely as a path. */
export class InvalidKey extends Error {
  override readonly name = 'InvalidKey';
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`invalid object key ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}: ${reason}`);
    this.key = key;
  }
}

/** The file under the key tree `objects` that holds the current body of `key`. @throws InvalidKey */
export function objectPath(objects: string, key: string): string {
  const segments = keySegments(key);
  const last = segments.pop()!;
  return path.join(objects, ...segments.map(directoryName), encodeName(Buffer.from(last, 'utf-8')));
}

/** The segments of `key`. @throws InvalidKey when the store cannot hold it */
export function keySegments(key: string): string[] {
  if (typeof key !== 'string' || key === '') throw new InvalidKey(String(key), 'must be a non-empty string');
  checkCharacters(key, key);
  if (Buffer.byteLength(key, 'utf-8') > MAX_KEY_BYTES) throw new InvalidKey(key, `is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  const segments = key.split('/');
  for (const segment of segments) checkSegment(key, segment);
  return segments;
}

/** The complete directory segments of a prefix and the partial segment after the last `/`. @throws InvalidKey */
export function prefixParts(prefix: string): { directories: string[]; partial: string } {
  if (typeof prefix !== 'string') throw new InvalidKey(String(prefix), 'a prefix must be a string');
  checkCharacters(prefix, prefix);
  const directories = prefix.split('/');
  const partial = directories.pop()!;
  for (const segment of directories) checkSegment(prefix, segment);
  return { directories, partial };
}

function checkCharacters(key: string, text: string): void {
  if (!text.isWellFormed()) throw new InvalidKey(key, 'is not well-formed Unicode (it has a lone surrogate)');
  if (text.includes('\0')) throw new InvalidKey(key, 'contains a NUL character');
  if (text.includes('\\')) throw new InvalidKey(key, 'contains a backslash');
  if (text.startsWith('/')) throw new InvalidKey(key, 'is absolute (starts with /)');
}

function checkSegment(key: string, segment: string): void {
  if (segment === '') throw new InvalidKey(key, 'has an empty segment (// or a trailing /)');
  if (segment === '.' || segment === '..') throw new InvalidKey(key, `has a "${segment}" segment`);
  if (encodeName(Buffer.from(segment, 'utf-8')).length > MAX_ENCODED_SEGMENT) {
    throw new InvalidKey(key, `has a segment too long to be a file name (over ${MAX_ENCODED_SEGMENT} characters once encoded)`);
  }
}

function isPlainByte(byte: number): boolean {
  return (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2e || byte === 0x5f || byte === 0x2d;
}

/** The file name of some key bytes: plain bytes as they are, every other byte as `%XX`. */
function encodeName(bytes: Uint8Array): string {
  let name = '';
  for (const byte of bytes) {
    name += isPlainByte(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return name;
}

/** The key bytes of a file name, or undefined when the name is not one the store makes. */
export function decodeName(name: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; ) {
    const char = name.charCodeAt(i);
    if (char === 0x25) {
      const hex = name.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      const byte = Number.parseInt(hex, 16);
      if (isPlainByte(byte)) return undefined;
      bytes.push(byte);
      i += 3;
    } else if (isPlainByte(char)) {
      bytes.push(char);
      i += 1;
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes);
}

/** The name of the directory that holds the keys beginning with `segment/`. */
export function directoryName(segment: string): string {
  return encodeName(Buffer.from(`${segment}/`, 'utf-8'));
}

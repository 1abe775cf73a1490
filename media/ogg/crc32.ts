/**
 * The CRC-32 of Ogg pages. Pure: no Node imports.
 * Source: RFC 3533 §6 ("CRC_checksum") and libogg framing.c: generator polynomial 0x04c11db7,
 * initial value 0, no bit reflection, no final XOR, computed over the whole page with its CRC field
 * set to zero. Check value: the ASCII bytes "123456789" give 0x89a1897f.
 */

/** Lookup table of the CRC of each byte value, most significant bit first. */
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000_0000 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1;
    table[i] = crc >>> 0;
  }
  return table;
})();

/**
 * Returns the Ogg CRC-32 of `bytes` as an unsigned 32-bit integer.
 * @param crc a CRC returned by an earlier call, to continue over data split in parts (default 0).
 */
export function oggCrc32(bytes: Uint8Array, crc = 0): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = ((c << 8) ^ TABLE[((c >>> 24) ^ bytes[i]!) & 0xff]!) >>> 0;
  }
  return c;
}

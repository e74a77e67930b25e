// torch.save stores little-endian data; on such hosts (all that Node supports in practice) storages are copied whole.

export const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Edit a checkpoint as a test needs it: the `coss.state` metadata (step,
 * recorded config hash, dataset) of a safetensors file, rewritten in place.
 */

/** Rewrite a safetensors file's `coss.state` metadata through `edit`. */
export async function editState(
  path: string,
  edit: (state: Record<string, unknown>) => void,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const state = JSON.parse(header.__metadata__["coss.state"]);
  edit(state);
  header.__metadata__["coss.state"] = JSON.stringify(state);
  let text = JSON.stringify(header);
  while (text.length % 8) text += " ";
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytes.subarray(8 + n), 8 + head.length);
  await Deno.writeFile(path, out);
}

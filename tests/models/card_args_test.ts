/** What a card records as a model's args (resolved, with resnet18's depth) loads back through createModel. */
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { createModel } from "../../lib/models/registry.ts";

Deno.test("createModel(card.architecture, card.args) loads back resnet18's resolved args", async () => {
  await initBackend({ backend: "cpu", log: false });
  const model = createModel("resnet18", { width: 0.125, inChannels: 1 });
  const args = structuredClone(model.args);
  assert.equal(args.depth, 18);
  const again = createModel("resnet18", args as never);
  assert.deepEqual(again.args, args);
  again.dispose();
  model.dispose();
  assert.throws(
    () => createModel("resnet18", { width: 0.125, depth: 34 } as never),
    /argument "depth" is 18/,
  );
  assert.throws(() => createModel("resnet18", { dept: 18 } as never), /unknown argument "dept"/);
});

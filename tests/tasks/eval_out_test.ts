/** The default report folder of `deno task eval` is unique per student path. */
import assert from "assert";
import { defaultEvalOut } from "../../tasks/_eval_out.ts";

Deno.test("deno task eval: two runs' students get two default report folders", () => {
  const a = defaultEvalOut("runs/a/student-safetensors");
  const b = defaultEvalOut("runs/b/student-safetensors/");
  assert.equal(a, "runs/eval/a-student-safetensors");
  assert.equal(b, "runs/eval/b-student-safetensors");
  assert.notEqual(a, b);
  assert.equal(defaultEvalOut("runs/default"), "runs/eval/default");
  assert.equal(
    defaultEvalOut("./runs/x/checkpoint.safetensors"),
    "runs/eval/x-checkpoint.safetensors",
  );
  // ".." stays inside one folder name: the report never lands outside runs/eval.
  assert.equal(defaultEvalOut("/tmp/../s"), "runs/eval/tmp-..-s");
});

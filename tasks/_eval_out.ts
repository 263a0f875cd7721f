/**
 * The default report folder of `deno task eval`: unique per student, so that
 * evaluating `runs/a/student-safetensors` and then `runs/b/student-safetensors`
 * writes two reports instead of one over the other.
 *
 * @module
 */

/**
 * `runs/eval/<the student's path>`, its folders joined by `-` and a leading
 * `runs/` dropped: `runs/a/student-safetensors` → `runs/eval/a-student-safetensors`,
 * `runs/default` → `runs/eval/default`.
 */
export function defaultEvalOut(student: string): string {
  const parts = student.replace(/\\/g, "/").split("/").filter((p) => p && p !== ".");
  if (parts[0] === "runs" && parts.length > 1) parts.shift();
  const name = parts.join("-").replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return `runs/eval/${name || "student"}`;
}

/** `qat report <run-dir>`: the self-contained HTML report of a run (src/report). */
import { writeReport } from "../../report/index.js";

export function reportCommand(o: { dir: string; out?: string }): { report: string } {
  return { report: writeReport(o.dir, o.out) };
}

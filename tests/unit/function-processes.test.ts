/**
 * V8's heap limits for a local execution environment (local/function-processes.ts), as Lambda's Node.js
 * runtime sets them: the ones NODE_OPTIONS names are kept; when it names neither, the runtime's
 * bootstrap script sizes them from the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): semi-spaces
 * 5 %, old space 90 % of it.
 */
import { describe, expect, it } from '@jest/globals';
import { v8HeapFlags } from '../../local/function-processes.ts';

describe('v8HeapFlags', () => {
  it('keeps the heap limits NODE_OPTIONS names, whatever the memory size', () => {
    expect(
      v8HeapFlags('--enable-source-maps --max-semi-space-size=16 --max-old-space-size=512', 1024),
    ).toEqual(['--max-semi-space-size=16', '--max-old-space-size=512']);
    expect(v8HeapFlags('--max_old_space_size=300', 512)).toEqual(['--max_old_space_size=300']);
  });

  it("derives them from the function's memorySize when NODE_OPTIONS names none", () => {
    expect(v8HeapFlags('--enable-source-maps', 1024)).toEqual([
      '--max-semi-space-size=51',
      '--max-old-space-size=921',
    ]);
    expect(v8HeapFlags(undefined, 256)).toEqual(['--max-semi-space-size=12', '--max-old-space-size=230']);
  });

  it('gives none without a memory size (Node sizes the heap itself)', () => {
    expect(v8HeapFlags('--enable-source-maps')).toEqual([]);
  });
});

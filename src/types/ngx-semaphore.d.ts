/** @noSelfInFile */

// lua-resty-core's ngx.semaphore: light threads of one worker wait on it.

declare module "ngx.semaphore" {
  export interface Semaphore {
    /** Waits up to timeout seconds; fails with "timeout" when nothing is posted. */
    wait(this: Semaphore, timeout: number): LuaMultiReturn<[true] | [undefined, string]>;
    post(this: Semaphore, count?: number): void;
    count(this: Semaphore): number;
  }

  function new_(count?: number): LuaMultiReturn<[Semaphore] | [undefined, string]>;
  export { new_ as new };
}

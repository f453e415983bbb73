// The slice of the WebAssembly JS API the runner uses. TypeScript declares it
// only in the DOM library, which this Node project does not load.
declare namespace WebAssembly {
  class Module {
    private readonly brand: 'Module'
  }
  class Memory {
    readonly buffer: ArrayBuffer
  }
  interface Instance {
    readonly exports: Record<string, unknown>
  }
  type Imports = Record<string, Record<string, unknown>>
  function compile(bytes: BufferSource): Promise<Module>
  function instantiate(module: Module, imports?: Imports): Promise<Instance>
}

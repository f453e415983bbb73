// The one error type of the image builder: its message says what is missing
// or wrong and how to fix it, and the CLI prints it without a stack.
export class ImageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ImageError'
  }
}

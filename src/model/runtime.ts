// Names every layer shares: the runtimes a function is written for, and the execution mode
// (the name of a registered driver) that runs it.
export type RuntimeName = 'python' | 'node';

/** A registered driver's name ('process', 'container', ...): execution/drivers/index.ts lists them. */
export type ExecutionMode = string;

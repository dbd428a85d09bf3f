/** The command ids, shared by the plugins, the launcher and the Running panel. */
export namespace CommandIDs {
  /** 4.x's id and arguments (`id`, `title`, `url`, `newBrowserTab`): kept for users' keymaps. */
  export const open = 'server-proxy:open';
  /** Ask for an instance name (and launch parameters) and open a new instance of an app. */
  export const newInstance = 'server-proxy:new-instance';
  export const showLog = 'server-proxy:show-log';
  export const start = 'server-proxy:start';
  export const restart = 'server-proxy:restart';
  export const stop = 'server-proxy:stop';
}

/**
 * Apps' icons as LabIcons, so every place that draws a command's icon (launcher cards in any
 * section, the palette, menus, tab titles, the Running panel) draws the app's own.
 */

import { LabIcon } from '@jupyterlab/ui-components';

import { ServerProxyClient } from './client';
import { IServerProcess } from './model';

export const NAMESPACE = 'server-proxy';

// A window with "</>": reads as "a web app" in any launcher section. Plain colours (no
// jp-icon classes), because theme classes would fill the outline shapes.
const DEFAULT_ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24">
<rect x="2" y="3" width="20" height="18" rx="2" style="fill:#ffffff;stroke:#616161;stroke-width:1.6"/>
<path d="M2 8h20" style="fill:none;stroke:#616161;stroke-width:1.6"/>
<circle cx="5" cy="5.5" r="0.9" style="fill:#616161"/><circle cx="8" cy="5.5" r="0.9" style="fill:#616161"/>
<path d="M8 12.5l-3 2.5 3 2.5M16 12.5l3 2.5-3 2.5M13.5 11.5l-3 7" style="fill:none;stroke:#2f7ed8;stroke-width:1.6;stroke-linecap:round"/>
</svg>`;

export const DEFAULT_ICON_URL = `data:image/svg+xml;base64,${btoa(DEFAULT_ICON_SVG)}`;
const defaultAppIcon = new LabIcon({
  name: `${NAMESPACE}:default`,
  svgstr: DEFAULT_ICON_SVG
});

const icons = new Map<string, LabIcon>();

export function iconFor(name: string): LabIcon {
  return icons.get(name) ?? defaultAppIcon;
}

/** Fetch an app's icon and make it a LabIcon; SVG is inlined, other images are wrapped. */
export async function loadIcon(
  client: ServerProxyClient,
  process: IServerProcess
): Promise<void> {
  const url = process.launcherEntry.iconUrl;
  if (!url) {
    return;
  }
  try {
    // servers-info gives a path; makeRequest wants the absolute URL under the server's base.
    const response = await client.fetch(
      new URL(url, window.location.href).href
    );
    if (!response.ok) {
      return;
    }
    const type = response.headers.get('Content-Type') ?? '';
    const svgstr = type.includes('svg')
      ? await response.text()
      : wrapImage(await dataUrl(await response.blob()));
    icons.set(
      process.name,
      new LabIcon({ name: `${NAMESPACE}:${process.name}`, svgstr })
    );
  } catch (error) {
    console.warn(
      `jupyter-server-proxy: icon of ${process.name} not loaded`,
      error
    );
  }
}

function wrapImage(href: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 24 24" width="24" height="24"><image width="24" height="24" href="${href}"/></svg>`;
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

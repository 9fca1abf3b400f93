/** Analytics' settings as src/config/env.ts parses them (ENABLE_ANALYTICS, MIXPANEL_*). */
import type { AppConfig } from '../../config/env';

export type AnalyticsSettings = AppConfig['analytics'];
